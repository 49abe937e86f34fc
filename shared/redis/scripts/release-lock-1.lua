-- Give up the leader lock on shutdown so another replica takes over at once, not after the TTL.
-- Only the holder may delete it.
-- KEYS: 1 lock
-- ARGV: 1 holder token
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
