-- Resolve a hold in Redis: give back what was reserved but not charged. Idempotent: the hold record
-- is deleted, so a second call (a retried settlement) changes nothing.
-- KEYS: 1 hold record, 2 day counter, 3 month counter, 4 account available balance
-- ARGV: 1 charged nGNK (0 for a void)
local amt = redis.call('HGET', KEYS[1], 'amt')
if not amt then return 0 end
local release = tonumber(amt) - tonumber(ARGV[1])
redis.call('DEL', KEYS[1])
-- The balance falls by what was charged; the reservation, already taken from it, comes back.
if redis.call('EXISTS', KEYS[4]) == 1 then redis.call('INCRBY', KEYS[4], release) end
if release > 0 then
  -- A counter that is gone belongs to a period already over, or will be reloaded from Postgres.
  if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('DECRBY', KEYS[2], release) end
  if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('DECRBY', KEYS[3], release) end
end
return 1
