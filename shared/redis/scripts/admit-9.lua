-- Admission: the one atomic check-and-hold (DESIGN.md "Admission").
-- KEYS: 1 child key state, 2 management key state, 3 rpm window, 4 day counter, 5 month counter,
--       6 account available balance, 7 hold record, 8 the account's index of hold records, 9 its
--       balance generation
-- ARGV: 1 now (ms), 2 estimate (nGNK), 3 hold id, 4 day counter ttl (s), 5 month counter ttl (s),
--       6 hold ttl (s), 7 key id, 8 hold deadline (ms), 9 today's day key (YYYYMMDD), 10 whether the
--       request counts against the RPM limit (0: a batch line, neither checked nor counted),
--       11 the fingerprint of the secret presented ('' for a batch line: key-checks.lua), 12 the
--       admitting process (redis/instance.ts), kept in the record as `by`
-- Returns {status, ...}: nothing is written unless the request is admitted, so a refused request
-- consumes no RPM quota and reserves nothing. Admitted, and refused for limit or balance, the reply
-- ends with the key's RPM state {rpm, remaining, reset ms} (rpm 0: no limit) for the headers.
local now = tonumber(ARGV[1])

-- Amounts (nGNK) are compared and added as exact decimals (decimal.lua, prepended).
local estH, estL = limbs(ARGV[2])

local k = redis.call('HMGET', KEYS[1], 'st', 'exp', 'rpm', 'ld', 'lm', 'c', 'cg', 'h', 'ph', 'phx')
-- `c` is the day whose counters were loaded from Postgres. Another day's: today's counter does not
-- exist yet, and the first request of the day loads it (a new day still needs no reset: the
-- counter starts at what Postgres holds for it, open holds included).
-- Only an earlier day loads (YYYYMMDD compares as text; a legacy '1' is earlier): a process whose
-- clock is a little behind at midnight reads its own day's counters rather than reload the key.
if not k[1] or not k[6] or k[6] < ARGV[9] then return {'load', 'key'} end
-- Loaded today, yet a counter is gone: lost (they outlive their period), not zero. Reading it as 0
-- would let the key spend its limit again; a load puts back what Postgres says.
if redis.call('EXISTS', KEYS[4], KEYS[5]) < 2 then return {'load', 'counters'} end
local mk = redis.call('HGET', KEYS[2], 'st')
if not mk then return {'load', 'mk'} end
local bal = redis.call('GET', KEYS[6])
if not bal then return {'load', 'balance'} end

local rpm = tonumber(k[3])
if ARGV[10] == '0' then rpm = 0 end

-- The RPM window: entries of the last 60 s, the older ones dropped first.
local function windowCount()
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - 60000)
  return redis.call('ZCARD', KEYS[3])
end
-- When the window's entry at `index` (0: its oldest) leaves it (0 if there is none: nothing to
-- wait for, as key-access-3.lua says on the routes that take no hold).
local function windowReset(index)
  local entry = redis.call('ZRANGE', KEYS[3], index, index, 'WITHSCORES')
  if not entry[2] then return 0 end
  return tonumber(entry[2]) + 60000 - now
end

-- This very admission sent again (ioredis resends a command whose reply a dropped connection lost):
-- its hold record exists, so it was admitted. Say so again, reserving nothing twice, with the RPM
-- state as it stands (this request in it).
if redis.call('EXISTS', KEYS[7]) == 1 then
  if rpm == 0 then return {'ok', 0, 0, 0} end
  return {'ok', rpm, math.max(rpm - windowCount(), 0), windowReset(0)}
end

local refused = keyRefusal(k[1], k[2], mk, now, ARGV[11], k[8], k[9], k[10])
if refused then return {'key', refused} end

local inWindow = 0
if rpm > 0 then
  inWindow = windowCount()
  -- Room comes when all but rpm - 1 entries have left: a window can hold more than rpm (a limit
  -- lowered, or set with the last minute's requests counted), so not always at the oldest's exit.
  if inWindow >= rpm then return {'rpm', rpm, windowReset(inWindow - rpm)} end
end

-- The window as it stands without this request (a refusal does not count).
local function rpmState()
  if rpm == 0 then return 0, 0, 0 end
  return rpm, rpm - inWindow, windowReset(0)
end

-- Limits: -1 is none. Remaining amounts go back as decimal strings ('-1': no limit).
local function overLimit(limit, counterKey)
  if string.sub(limit, 1, 1) == '-' then return false, '-1' end
  local uh, ul = limbs(redis.call('GET', counterKey) or '0')
  local lh, ll = limbs(limit)
  local th, tl = plus(uh, ul, estH, estL)
  local remaining = '0'
  if greater(lh, ll, uh, ul) then remaining = decimal(minus(lh, ll, uh, ul)) end
  return greater(th, tl, lh, ll), remaining
end
local overD, remD = overLimit(k[4], KEYS[4])
local overM, remM = overLimit(k[5], KEYS[5])
if overD or overM then return {'limit', remD, remM, rpmState()} end

-- The balance goes back as Redis holds it (a decimal string).
local bh, bl = limbs(bal)
if string.sub(bal, 1, 1) == '-' or greater(estH, estL, bh, bl) then return {'balance', bal, rpmState()} end

-- Admitted: record everything at once.
local resetMs = 60000
if rpm > 0 then
  redis.call('ZADD', KEYS[3], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[3], 60000)
  resetMs = windowReset(0)
end
redis.call('INCRBY', KEYS[4], ARGV[2])
redis.call('EXPIRE', KEYS[4], ARGV[4])
redis.call('INCRBY', KEYS[5], ARGV[2])
redis.call('EXPIRE', KEYS[5], ARGV[5])
redis.call('DECRBY', KEYS[6], ARGV[2])
-- The record also says when the hold was admitted (its day and month counters) and its deadline:
-- a record Postgres never got a row for is given back once that is long past (release-orphans.ts).
-- And the balance's and the counters' generations it was admitted against: should the index lose
-- its name, its release gives back only to values no load rebuilt since (hold-index.lua).
-- A generation Redis lost (alone: every load writes one) starts again here, at the server's clock:
-- no load rebuilt the value since, and the records admitted from now on can say so.
local bg = redis.call('GET', KEYS[9])
if not bg then
  bg = clockGeneration()
  redis.call('SET', KEYS[9], bg)
end
local cg = k[7]
if not cg then
  cg = clockGeneration()
  redis.call('HSET', KEYS[1], 'cg', cg)
end
writeRecord(KEYS[7], {'amt', ARGV[2], 'k', ARGV[7], 'at', ARGV[1], 'dl', ARGV[8], 'by', ARGV[12]}, bg, cg)
redis.call('EXPIRE', KEYS[7], ARGV[6])
indexHold(KEYS[8], ARGV[3], ARGV[6])
return {'ok', rpm, rpm - inWindow - 1, resetMs}
