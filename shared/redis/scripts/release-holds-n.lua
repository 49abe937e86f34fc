-- Resolve many holds of ONE account in Redis: give back what each
-- reserved but was not charged. Idempotent per hold: its record is deleted, so a second call (a
-- retried settlement) changes nothing for it. All keys share the account's hash tag.
-- KEYS: 1 account available balance, then per hold: hold record, day counter, month counter
-- ARGV: per hold, in the same order: charged nGNK (0 for a void)
local balanceExists = redis.call('EXISTS', KEYS[1]) == 1
local back = 0
local released = 0
for i = 1, #ARGV do
  local base = 2 + (i - 1) * 3
  local amt = redis.call('HGET', KEYS[base], 'amt')
  if amt then
    local release = tonumber(amt) - tonumber(ARGV[i])
    redis.call('DEL', KEYS[base])
    -- The balance falls by what was charged; the reservation, already taken from it, comes back.
    back = back + release
    if release > 0 then
      -- A counter that is gone belongs to a period already over, or will be reloaded from Postgres.
      local by = string.format('%d', release)
      if redis.call('EXISTS', KEYS[base + 1]) == 1 then redis.call('DECRBY', KEYS[base + 1], by) end
      if redis.call('EXISTS', KEYS[base + 2]) == 1 then redis.call('DECRBY', KEYS[base + 2], by) end
    end
    released = released + 1
  end
end
-- '%d': a Lua number past 14 digits would otherwise reach Redis as '1e+14'.
if balanceExists and back ~= 0 then redis.call('INCRBY', KEYS[1], string.format('%d', back)) end
return released
