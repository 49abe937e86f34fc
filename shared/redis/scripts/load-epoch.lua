-- Move an account's load epoch on (keys.loadEpoch): a load that read it before this refuses to
-- write. One that does not exist starts at the server's clock in microseconds, not at 1, so a
-- Redis loss between a load's read and its write cannot bring back the value it read.
local function moveLoadEpoch(key)
  if redis.call('EXISTS', key) == 1 then
    redis.call('INCR', key)
  else
    local t = redis.call('TIME')
    redis.call('SET', key, t[1] .. string.format('%06d', tonumber(t[2])))
  end
end
