-- A fresh generation (a load epoch, a counters' or a balance's generation started anew): the
-- server's clock in microseconds, never a value a record or a load may still hold.
local function clockGeneration()
  local t = redis.call('TIME')
  return t[1] .. string.format('%06d', tonumber(t[2]))
end

-- Move an account's load epoch on (keys.loadEpoch): a load that read it before this refuses to
-- write. One that does not exist starts at the server's clock in microseconds, not at 1, so a
-- Redis loss between a load's read and its write cannot bring back the value it read.
local function moveLoadEpoch(key)
  if redis.call('EXISTS', key) == 1 then
    redis.call('INCR', key)
  else
    redis.call('SET', key, clockGeneration())
  end
end
