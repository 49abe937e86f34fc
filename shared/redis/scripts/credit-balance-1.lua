-- Add to an account's available balance if Redis has it; when it does not, the next admission
-- loads the balance from Postgres, which already includes this credit.
-- KEYS: 1 account available balance
-- ARGV: 1 nGNK
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('INCRBY', KEYS[1], ARGV[1])
return 1
