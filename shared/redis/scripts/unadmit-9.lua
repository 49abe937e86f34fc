-- Take back an admission whose hold Postgres never recorded: the reservation returns to the day and
-- month counters and the balance, and the request leaves the RPM window (it was not admitted after
-- all, so it counts for nothing). Idempotent: the hold record is deleted, so a second call changes
-- nothing. A value a load marked as rebuilt without the hold (settledIn) is skipped, as a release
-- skips it (release-holds-n.lua). A value missing moves the account's load epoch, as a release's
-- does: a load that read this record as not yet written would otherwise still count it in. A record
-- its account's index does not name takes away, instead, the values a load rebuilt since it was
-- written, for the next admission to load from Postgres (release-holds-n.lua says why).
-- KEYS: 1 hold record, 2 day counter, 3 month counter, 4 account available balance, 5 rpm window,
--       6 the account's index of hold records, 7 the account's load epoch, 8 the child key's state,
--       9 the account's balance generation
-- ARGV: 1 hold id (its member in the rpm window and the index)
local indexed = redis.call('SREM', KEYS[6], ARGV[1]) == 1
local amt = redis.call('HGET', KEYS[1], 'amt')
if not amt then return 0 end
redis.call('ZREM', KEYS[5], ARGV[1])
local missing = false
if not indexed then
  local balanceSafe, countersSafe = unrebuilt(KEYS[1], KEYS[9], KEYS[8])
  if not balanceSafe then redis.call('DEL', KEYS[4]) end
  if not countersSafe then redis.call('DEL', KEYS[2], KEYS[3]) end
end
-- A key that is gone belongs to a period already over, or will be reloaded from Postgres.
local function giveBack(key, flag, by)
  if redis.call('EXISTS', key) == 0 then missing = true
  elseif not settledIn(KEYS[1], flag) then redis.call('INCRBY', key, by) end
end
giveBack(KEYS[4], 'xb', amt)
giveBack(KEYS[2], 'xd', '-' .. amt)
giveBack(KEYS[3], 'xm', '-' .. amt)
redis.call('DEL', KEYS[1])
if missing then moveLoadEpoch(KEYS[7]) end
return 1
