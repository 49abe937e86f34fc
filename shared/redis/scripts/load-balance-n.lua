-- Load an account's available balance from a Postgres read, unless Redis has one already (then the
-- read may be older than what Redis has applied since, and changes nothing). With it, mark the
-- credits that read counted (top-ups and referral payouts of the last hour), as credit-balance-3.lua
-- marks those it applies: a credit whose own send comes after this load, late or sent again, is
-- then not added a second time. All keys share the account's hash tag.
-- -1, writing nothing, when the account's load epoch is not the one read before that Postgres read
-- (ARGV[3]; '' for none, a new account's balance known without a read): a credit or a release
-- found no balance meanwhile, and the read may not include it. The loader reads again.
-- KEYS: 1 account available balance, 2 the account's load epoch, then the marker of each credit
--       the read counted
-- ARGV: 1 nGNK available, 2 marker ttl (s), 3 the epoch before the read
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if (redis.call('GET', KEYS[2]) or '') ~= ARGV[3] then return -1 end
redis.call('SET', KEYS[1], ARGV[1])
for i = 3, #KEYS do redis.call('SET', KEYS[i], '1', 'NX', 'EX', ARGV[2]) end
return 1
