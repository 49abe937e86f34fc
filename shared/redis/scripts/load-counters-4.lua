-- Install a child key's period counters computed from Postgres, unless they are already loaded for
-- the day (`c` names it and both exist).
-- A counter that exists is kept (only the key's state was lost, an eviction say): admissions and
-- releases have kept it current, and the read may be older than a release it has seen.
-- -1, writing nothing, when the account's load epoch is not the one read before that Postgres read:
-- a release found a counter missing meanwhile, and the read may not include its settlement.
-- KEYS: 1 child key state hash, 2 day counter, 3 month counter, 4 the account's load epoch
-- ARGV: 1 day used, 2 month used, 3 day ttl (s), 4 month ttl (s), 5 the epoch before the read,
--       6 the day key (YYYYMMDD) the counters are of, which `c` then names (admit-7.lua)
if redis.call('HGET', KEYS[1], 'c') == ARGV[6] and redis.call('EXISTS', KEYS[2], KEYS[3]) == 2 then
  return 0
end
if (redis.call('GET', KEYS[4]) or '') ~= ARGV[5] then return -1 end
redis.call('SET', KEYS[2], ARGV[1], 'NX', 'EX', ARGV[3])
redis.call('SET', KEYS[3], ARGV[2], 'NX', 'EX', ARGV[4])
-- `c` only moves forward: a loader whose clock is behind at midnight leaves a later day's mark.
local c = redis.call('HGET', KEYS[1], 'c')
if not c or c < ARGV[6] then redis.call('HSET', KEYS[1], 'c', ARGV[6]) end
return 1
