-- Recreate the Redis record of a hold that is open in Postgres (lost with a Redis flush), so its
-- settlement gives the unused reservation back. Never overwrites a record that exists. Used by
-- reconciliation for an account too busy to repair inside a WATCH. Only where the account's
-- balance exists: a balance loaded later reads the hold's outcome from Postgres itself, and the
-- record's release would then give the unused part back a second time. For the same reason, only
-- if neither the balance nor the key's counters were rebuilt since the caller read the epoch and
-- the counters' generation, before it saw the hold open in Postgres: a hold that settled since
-- (its release found no record) is released through this record right after (release.ts), and a
-- value rebuilt meanwhile counts the settlement already.
-- KEYS: 1 hold record, 2 account available balance, 3 the account's index of hold records, 4 its
--       load epoch, 5 the child key's state hash (its `cg`, load-counters-n.lua)
-- ARGV: 1 amount (nGNK), 2 child key id, 3 ttl (s), 4 admitted (ms), 5 deadline (ms), 6 hold id,
--       7 the epoch read, 8 the counters' generation read ('' for none)
-- (the record as admit-9.lua writes it). -1 when something was rebuilt since: nothing written.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
if (redis.call('GET', KEYS[4]) or '') ~= ARGV[7] then return -1 end
if (redis.call('HGET', KEYS[5], 'cg') or '') ~= ARGV[8] then return -1 end
-- Against the counters as they stand (not rebuilt since the look saw the hold open); the balance's
-- generation is not read here, so a release whose index lost it takes the balance away.
local fields = {'amt', ARGV[1], 'k', ARGV[2], 'at', ARGV[4], 'dl', ARGV[5]}
writeRecord(KEYS[1], fields, false, redis.call('HGET', KEYS[5], 'cg'))
redis.call('EXPIRE', KEYS[1], ARGV[3])
indexHold(KEYS[3], ARGV[6], ARGV[3])
return 1
