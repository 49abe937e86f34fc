-- Resolve many holds of ONE account in Redis: give back what each
-- reserved but was not charged. Idempotent per hold: its record is deleted, so a second call (a
-- retried settlement) changes nothing for it. All keys share the account's hash tag.
-- A balance or counter missing is left to its next load, which reads Postgres: the account's load
-- epoch moves on, so a load that read before this settlement committed reads again
-- (load-balance-n.lua, load-counters-4.lua). It moves whether or not the hold's record is there:
-- after a Redis restart the records are gone too, and the load's read may still count the hold open.
-- KEYS: 1 account available balance, 2 the account's load epoch, then per hold: hold record, day
--       counter, month counter
-- ARGV: per hold, in the same order: charged nGNK (0 for a void)

-- Amounts are exact decimals (decimal.lua, prepended).
local balanceExists = redis.call('EXISTS', KEYS[1]) == 1
local skipped = not balanceExists
-- What goes back to the balance: the reservations' unused parts, less any charge above its hold.
local backH, backL, overH, overL = 0, 0, 0, 0
local released = 0
for i = 1, #ARGV do
  local base = 3 + (i - 1) * 3
  -- Its day and month counters, looked up once: those missing are skipped, and move the epoch.
  local counters = {}
  for k = base + 1, base + 2 do
    if redis.call('EXISTS', KEYS[k]) == 1 then table.insert(counters, KEYS[k]) else skipped = true end
  end
  local amt = redis.call('HGET', KEYS[base], 'amt')
  if amt then
    redis.call('DEL', KEYS[base])
    local ah, al = limbs(amt)
    local ch, cl = limbs(ARGV[i])
    if greater(ah, al, ch, cl) then
      -- The balance falls by what was charged; the reservation, already taken from it, comes back.
      local rh, rl = minus(ah, al, ch, cl)
      backH, backL = plus(backH, backL, rh, rl)
      -- A counter that is gone belongs to a period already over, or will be reloaded from Postgres.
      local by = decimal(rh, rl)
      for _, counter in ipairs(counters) do redis.call('DECRBY', counter, by) end
    elseif greater(ch, cl, ah, al) then
      overH, overL = plus(overH, overL, minus(ch, cl, ah, al))
    end
    released = released + 1
  end
end
if skipped then moveLoadEpoch(KEYS[2]) end
if balanceExists then
  if greater(backH, backL, overH, overL) then
    redis.call('INCRBY', KEYS[1], decimal(minus(backH, backL, overH, overL)))
  elseif greater(overH, overL, backH, backL) then
    redis.call('DECRBY', KEYS[1], decimal(minus(overH, overL, backH, backL)))
  end
end
return released
