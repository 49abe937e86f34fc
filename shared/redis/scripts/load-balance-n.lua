-- Load an account's available balance from a Postgres read, unless Redis has one already (then the
-- read may be older than what Redis has applied since, and changes nothing). With it, mark the
-- credits that read counted (top-ups and referral payouts of the last hour), as credit-balance-3.lua
-- marks those it applies: a credit whose own send comes after this load, late or sent again, is
-- then not added a second time. All keys share the account's hash tag.
-- {1, the epoch now} when written; 0 when Redis had a balance; -1, writing nothing, when the
-- account's load epoch is not the one read before that Postgres read
-- (ARGV[3]; '' for none, a new account's balance known without a read): a credit or a release
-- found no balance meanwhile, and the read may not include it. The loader reads again.
-- With it too, the record of each open hold the read counted, where it has none (as admit-9.lua
-- writes it): the balance holds their reservations, and a settlement gives a reservation's unused
-- part back only through its record. Without them, the reservations of requests in flight when
-- Redis lost its data stayed taken from the balance and the counters after they settled, until a
-- reconcile --fix. (A record is written only with the balance it belongs to: one written beside a
-- balance loaded later would give the same part back twice; put-hold-record-5.lua says the same.
-- Nor beside counters a newer read loaded: a load writes its balance before its counters, and the
-- epoch this moves turns away any counters write whose read came before these records.)
-- And the records of holds the read saw resolved are marked (settledIn, hold-index.lua): the
-- balance counts their charges already, so their late releases leave it alone. The reservations of
-- records Postgres had no hold for yet are taken from ARGV[1] already (held-records.ts).
-- KEYS: 1 account available balance, 2 the account's load epoch, 3 its index of hold records, 4 its
--       balance generation, then the marker of each credit the read counted, then the record of each
--       open hold it counted, then the records of holds it saw resolved
-- ARGV: 1 nGNK available, 2 marker ttl (s), 3 the epoch before the read, 4 how many markers, 5 how
--       many open holds, then per open hold: id, amount, child key id, admitted (ms), deadline (ms),
--       record ttl (s)
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if (redis.call('GET', KEYS[2]) or '') ~= ARGV[3] then return -1 end
redis.call('SET', KEYS[1], ARGV[1])
-- Another loader that read Postgres before this one must not write after it: should the balance go
-- again, that older read would put back an amount admissions since have spent (it reads again).
moveLoadEpoch(KEYS[2])
local epoch = redis.call('GET', KEYS[2])
-- The balance's generation: records admitted against another may not give back to this one.
redis.call('SET', KEYS[4], epoch)
local markers = tonumber(ARGV[4])
local holds = tonumber(ARGV[5])
for i = 5, 4 + markers do redis.call('SET', KEYS[i], '1', 'NX', 'EX', ARGV[2]) end
for i = 5 + markers, 4 + markers + holds do
  local a = 6 + (i - 5 - markers) * 6
  if redis.call('EXISTS', KEYS[i]) == 0 then
    -- Against this balance (its counters are another load's: their generation is not known here).
    writeRecord(KEYS[i], {'amt', ARGV[a + 1], 'k', ARGV[a + 2], 'at', ARGV[a + 3], 'dl', ARGV[a + 4]}, epoch, false)
    redis.call('EXPIRE', KEYS[i], ARGV[a + 5])
    indexHold(KEYS[3], ARGV[a], ARGV[a + 5])
  end
end
for i = 5 + markers + holds, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('HSET', KEYS[i], 'xb', '1') end
end
-- The epoch it moved to: the same load's counters are written against it (load-state.ts).
return {1, epoch}
