-- Whether a child key may use the /v1 routes that take no hold (reads, uploads, batch creation,
-- cancels), with its RPM state for the headers. The same key checks as admit-9.lua, in its order,
-- and nothing is written: these requests neither count toward the RPM limit nor reserve anything.
-- KEYS: 1 child key state, 2 management key state, 3 rpm window
-- ARGV: 1 now (ms), 2 the fingerprint of the secret presented (key-checks.lua)
-- Returns {'load', what} (state not in Redis), {'key', status} (refused) or
-- {'ok', rpm, remaining, reset ms} (rpm 0: no limit).
local now = tonumber(ARGV[1])

local k = redis.call('HMGET', KEYS[1], 'st', 'exp', 'rpm', 'c', 'h', 'ph', 'phx')
if not k[1] or not k[4] then return {'load', 'key'} end
local mk = redis.call('HGET', KEYS[2], 'st')
if not mk then return {'load', 'mk'} end

local refused = keyRefusal(k[1], k[2], mk, now, ARGV[2], k[5], k[6], k[7])
if refused then return {'key', refused} end

local rpm = tonumber(k[3])
if rpm == 0 then return {'ok', 0, 0, 0} end
-- Entries at or before now − 60 s have left the window (admit-9.lua drops them on its next run).
local from = '(' .. (now - 60000)
local inWindow = redis.call('ZCOUNT', KEYS[3], from, '+inf')
-- An empty window is at its initial state already: nothing to wait for (OpenAI's reading of
-- x-ratelimit-reset-requests); otherwise when its oldest entry leaves and a slot frees, as admission says.
local resetMs = 0
if inWindow > 0 then
  local oldest = redis.call('ZRANGEBYSCORE', KEYS[3], from, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  resetMs = tonumber(oldest[2]) + 60000 - now
end
return {'ok', rpm, math.max(rpm - inWindow, 0), resetMs}
