-- Resolve many holds of ONE account in Redis: give back what each
-- reserved but was not charged. Idempotent per hold: its record is deleted, so a second call (a
-- retried settlement) changes nothing for it. All keys share the account's hash tag.
-- A balance or counter missing is left to its next load, which reads Postgres: the account's load
-- epoch moves on, so a load that read before this settlement committed reads again
-- (load-balance-n.lua, load-counters-n.lua). It moves whether or not the hold's record is there:
-- after a Redis restart the records are gone too, and the load's read may still count the hold open.
-- A value a load rebuilt from a read that already saw the hold resolved is skipped too: the record
-- says so (its `x` flags, hold-index.lua), and giving the unused part back to it would free it twice.
-- A hold settlement wrote from its terms (its admission's write failed: `unwritten` '1') was never
-- open in Postgres, so a value a load rebuilt before the settlement committed has neither its
-- reservation nor its charge. With its record, that is marked or counted like any other (the load
-- counted the record's amount in); without it (Redis lost the record too), nothing says which
-- values have what: the balance and the hold's counters are taken away, for the next admission to
-- load from Postgres, which has the charge.
-- A record its account's index does not name (the index lost on its own, or expired in the minute
-- before the record; or written by an api older than the index): a load since could not see it to
-- mark or count it, so giving back through it into a value such a load rebuilt would free the
-- reservation twice. It gives back to the values whose generation did not move since it was
-- written (no load rebuilt them: hold-index.lua), and takes the others away the same way, for the
-- next admission to load from Postgres. (Taking them all away made the next load run blind to the
-- account's other unindexed records whose holds Postgres has no row for yet.)
-- KEYS: 1 account available balance, 2 the account's load epoch, 3 its index of hold records, 4 its
--       balance generation, then per hold: hold record, day counter, month counter, its child key's
--       state hash
-- ARGV: per hold, in the same order: charged nGNK (0 for a void), hold id, unwritten ('1' or '0')

-- Amounts are exact decimals (decimal.lua, prepended).
local balanceExists = redis.call('EXISTS', KEYS[1]) == 1
local skipped = not balanceExists
-- What goes back to the balance: the reservations' unused parts, less any charge above its hold.
local backH, backL, overH, overL = 0, 0, 0, 0
local released = 0
-- Take the balance and (from `base`) a hold's counters away, for the next admission to load from
-- Postgres; the load epoch moves below.
local function takeAway(balance, base)
  if balance then
    redis.call('DEL', KEYS[1])
    balanceExists = false
  end
  if base then redis.call('DEL', KEYS[base + 1], KEYS[base + 2]) end
  skipped = true
end
for i = 1, #ARGV / 3 do
  local base = 5 + (i - 1) * 4
  local charged, holdId, unwritten = ARGV[i * 3 - 2], ARGV[i * 3 - 1], ARGV[i * 3]
  local indexed = redis.call('SREM', KEYS[3], holdId) == 1
  -- The reservation, and which values a load rebuilt from a read that saw the hold resolved.
  local rec = redis.call('HMGET', KEYS[base], 'amt', 'xb', 'xd', 'xm')
  if rec[1] and not indexed then
    local balanceSafe, countersSafe = unrebuilt(KEYS[base], KEYS[4], KEYS[base + 3])
    if not (balanceSafe and countersSafe) then takeAway(not balanceSafe, not countersSafe and base) end
  end
  -- Its day and month counters, looked up once: those missing are skipped, and move the epoch.
  local counters = {}
  for k = 1, 2 do
    if redis.call('EXISTS', KEYS[base + k]) == 0 then
      skipped = true
    elseif not rec[2 + k] then
      table.insert(counters, KEYS[base + k])
    end
  end
  local amt = rec[1]
  if amt then
    local toBalance = not rec[2]
    redis.call('DEL', KEYS[base])
    local ah, al = limbs(amt)
    local ch, cl = limbs(charged)
    if greater(ah, al, ch, cl) then
      -- The balance falls by what was charged; the reservation, already taken from it, comes back.
      local rh, rl = minus(ah, al, ch, cl)
      if toBalance then backH, backL = plus(backH, backL, rh, rl) end
      -- A counter that is gone belongs to a period already over, or will be reloaded from Postgres.
      local by = decimal(rh, rl)
      for _, counter in ipairs(counters) do redis.call('DECRBY', counter, by) end
    elseif toBalance and greater(ch, cl, ah, al) then
      overH, overL = plus(overH, overL, minus(ch, cl, ah, al))
    end
    released = released + 1
  elseif unwritten == '1' then
    takeAway(true, base)
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
