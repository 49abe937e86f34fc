-- Add to an account's available balance if Redis has it; when it does not, the next admission
-- loads the balance from Postgres, which already includes this credit. Once per credit: a marker
-- named after it (a top-up's reference, a charge's referral) makes a second run, an ioredis resend
-- of a command whose reply was lost, change nothing.
-- KEYS: 1 account available balance, 2 the credit's marker
-- ARGV: 1 nGNK, 2 marker ttl (s)
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[2]) == false then return 0 end
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('INCRBY', KEYS[1], ARGV[1])
return 1
