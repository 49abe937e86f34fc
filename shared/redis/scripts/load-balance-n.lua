-- Load an account's available balance from a Postgres read, unless Redis has one already (then the
-- read may be older than what Redis has applied since, and changes nothing). With it, mark the
-- credits that read counted (top-ups and referral payouts of the last hour), as credit-balance-2.lua
-- marks those it applies: a credit whose own send comes after this load, late or sent again, is
-- then not added a second time. All keys share the account's hash tag.
-- KEYS: 1 account available balance, then the marker of each credit the read counted
-- ARGV: 1 nGNK available, 2 marker ttl (s)
if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 0 end
for i = 2, #KEYS do redis.call('SET', KEYS[i], '1', 'NX', 'EX', ARGV[2]) end
return 1
