-- Recreate the Redis record of a hold that is open in Postgres (lost with a Redis flush), so its
-- settlement gives the unused reservation back. Never overwrites a record that exists. Used by
-- reconciliation for an account too busy to repair inside a WATCH. Only where the account's
-- balance exists: a balance loaded later reads the hold's outcome from Postgres itself, and the
-- record's release would then give the unused part back a second time.
-- KEYS: 1 hold record, 2 account available balance, 3 the account's index of hold records
-- ARGV: 1 amount (nGNK), 2 child key id, 3 ttl (s), 4 admitted (ms), 5 deadline (ms), 6 hold id
-- (the record as admit-8.lua writes it).
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'amt', ARGV[1], 'k', ARGV[2], 'at', ARGV[4], 'dl', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[3])
indexHold(KEYS[3], ARGV[6], ARGV[3])
return 1
