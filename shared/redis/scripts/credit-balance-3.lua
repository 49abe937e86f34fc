-- Add to an account's available balance if Redis has it; when it does not, the next admission
-- loads the balance from Postgres, which already includes this credit. Once per credit: a marker
-- named after it (a top-up's reference, a charge's referral) makes a second run, an ioredis resend
-- of a command whose reply was lost, change nothing.
-- A load that read Postgres before this credit committed, and writes after this, would leave it
-- out: with no balance, the account's load epoch moves on, and such a load reads again
-- (load-balance-n.lua).
-- A resend (a top-up replayed, a settlement retried: ARGV[3] '1') that finds no marker cannot tell
-- a first send that never landed from a marker Redis lost on its own: adding could count the credit
-- twice. It takes the balance away instead, for the next admission to load from Postgres, which has
-- the credit (2).
-- KEYS: 1 account available balance, 2 the credit's marker, 3 the account's load epoch
-- ARGV: 1 nGNK, 2 marker ttl (s), 3 '1' for a resend
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[2]) == false then return 0 end
if redis.call('EXISTS', KEYS[1]) == 0 then
  moveLoadEpoch(KEYS[3])
  return 0
end
if ARGV[3] == '1' then
  redis.call('DEL', KEYS[1])
  moveLoadEpoch(KEYS[3])
  return 2
end
redis.call('INCRBY', KEYS[1], ARGV[1])
return 1
