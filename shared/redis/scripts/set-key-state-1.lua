-- Write a child or management key's state (status, expiry, limits) if it is newer than what Redis
-- holds. Called after every change in Postgres and by the loader, so a slow loader can never put
-- back a state older than a change that already landed.
-- KEYS: 1 state hash
-- ARGV: 1 version, then field/value pairs
local cur = redis.call('HGET', KEYS[1], 'v')
if cur and tonumber(cur) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], unpack(ARGV, 2))
return 1
