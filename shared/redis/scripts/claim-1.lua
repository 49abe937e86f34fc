-- Claim a name (an Idempotency-Key) for one value, or take over a claim known to be dead.
-- KEYS: 1 the claim
-- ARGV: 1 this claim's value, 2 the value it may replace ('' for none), 3 ttl (s)
-- Returns {1, value} when claimed (also when this very claim runs twice: an ioredis resend), else
-- {0, the value that holds it}.
local cur = redis.call('GET', KEYS[1])
if (not cur) or cur == ARGV[1] or cur == ARGV[2] then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
  return {1, ARGV[1]}
end
return {0, cur}
