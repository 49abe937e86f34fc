-- Take back an admission whose hold Postgres never recorded: the reservation returns to the day and
-- month counters and the balance, and the request leaves the RPM window (it was not admitted after
-- all, so it counts for nothing). Idempotent: the hold record is deleted, so a second call changes
-- nothing.
-- KEYS: 1 hold record, 2 day counter, 3 month counter, 4 account available balance, 5 rpm window
-- ARGV: 1 hold id (its member in the rpm window)
local amt = redis.call('HGET', KEYS[1], 'amt')
if not amt then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[5], ARGV[1])
-- A key that is gone belongs to a period already over, or will be reloaded from Postgres.
if redis.call('EXISTS', KEYS[4]) == 1 then redis.call('INCRBY', KEYS[4], amt) end
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('DECRBY', KEYS[2], amt) end
if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('DECRBY', KEYS[3], amt) end
return 1
