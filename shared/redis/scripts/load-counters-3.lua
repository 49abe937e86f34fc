-- Install a child key's period counters computed from Postgres, unless they are already loaded.
-- KEYS: 1 child key state hash, 2 day counter, 3 month counter
-- ARGV: 1 day used, 2 month used, 3 day ttl (s), 4 month ttl (s)
if redis.call('HGET', KEYS[1], 'c') then return 0 end
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[3])
redis.call('SET', KEYS[3], ARGV[2], 'EX', ARGV[4])
redis.call('HSET', KEYS[1], 'c', '1')
return 1
