-- Extend the scheduler's leader lock, but only while this process still holds it: a lock that
-- expired and was taken by another replica must not be renewed by the old leader.
-- KEYS: 1 lock
-- ARGV: 1 holder token, 2 ttl (ms)
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
