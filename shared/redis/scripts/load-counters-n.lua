-- Install a child key's period counters computed from Postgres, unless they are already loaded for
-- the day (`c` names it and both exist).
-- A counter that exists is kept (only the key's state was lost, an eviction say): admissions and
-- releases have kept it current, and the read may be older than a release it has seen.
-- -1, writing nothing, when the account's load epoch is not the one read before that Postgres read:
-- a release found a counter missing meanwhile, and the read may not include its settlement.
-- With a counter it writes, it marks the records of the holds that read saw resolved (settledIn,
-- hold-index.lua): the counter counts their charges already, and their late releases (a worker
-- died after its commit) must not give their unused parts back to it too. The amounts of records
-- Postgres had no hold for are in ARGV[1] and ARGV[2] already (held-records.ts).
-- KEYS: 1 child key state hash, 2 day counter, 3 month counter, 4 the account's load epoch, then the
--       records to mark with the day counter, then those to mark with the month counter
-- ARGV: 1 day used, 2 month used, 3 day ttl (s), 4 month ttl (s), 5 the epoch before the read,
--       6 the day key (YYYYMMDD) the counters are of, which `c` then names (admit-9.lua), 7 how
--       many records go with the day counter, 8 and 9 whether the day and the month counter may be
--       written ('1': they were missing when the load began; one lost since is the next load's),
--       10 the key's counters' generation (`cg`) read before the read
if redis.call('HGET', KEYS[1], 'c') == ARGV[6] and redis.call('EXISTS', KEYS[2], KEYS[3]) == 2 then
  return 0
end
if (redis.call('GET', KEYS[4]) or '') ~= ARGV[5] then return -1 end
-- Another load wrote this key's counters since this one's read (ARGV[10], their generation then):
-- admissions counted since in a counter Redis lost again meanwhile are not in this read.
if (redis.call('HGET', KEYS[1], 'cg') or '') ~= ARGV[10] then return -1 end
local function mark(from, to, flag)
  for i = from, to do
    if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('HSET', KEYS[i], flag, '1') end
  end
end
local dayMarks = 4 + tonumber(ARGV[7])
local function load(key, value, ttl, from, to, flag)
  if redis.call('SET', key, value, 'NX', 'EX', ttl) then
    mark(from, to, flag)
    -- The counters' generation: a hold record put back from an older look checks it is unchanged
    -- (put-hold-record-5.lua), as this value counts what that look did not see, and so does the
    -- release of a record its index lost (hold-index.lua). One the key state lost starts at the
    -- server's clock, as a load epoch does, never at a value a record may still hold.
    if redis.call('HEXISTS', KEYS[1], 'cg') == 1 then
      redis.call('HINCRBY', KEYS[1], 'cg', 1)
    else
      redis.call('HSET', KEYS[1], 'cg', clockGeneration())
    end
  end
end
if ARGV[8] == '1' then load(KEYS[2], ARGV[1], ARGV[3], 5, dayMarks, 'xd') end
if ARGV[9] == '1' then load(KEYS[3], ARGV[2], ARGV[4], dayMarks + 1, #KEYS, 'xm') end
-- `c` only moves forward: a loader whose clock is behind at midnight leaves a later day's mark.
local c = redis.call('HGET', KEYS[1], 'c')
if not c or c < ARGV[6] then redis.call('HSET', KEYS[1], 'c', ARGV[6]) end
return 1
