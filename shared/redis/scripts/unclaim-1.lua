-- Give up a claim, only if it is still this one's (another may have taken it over meanwhile).
-- KEYS: 1 the claim
-- ARGV: 1 this claim's value
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
