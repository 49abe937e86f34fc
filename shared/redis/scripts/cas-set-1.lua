-- Reconciliation's repair of one admission value (a balance or a period counter): write the value
-- computed from Postgres only if Redis still holds what reconciliation read, so a request admitted
-- or settled in between is never overwritten (the caller re-reads and tries again).
-- KEYS: 1 value
-- ARGV: 1 expected current value ('' = absent), 2 new value, 3 ttl (s, 0 = none)
local cur = redis.call('GET', KEYS[1]) or ''
if cur ~= ARGV[1] then return 0 end
if tonumber(ARGV[3]) > 0 then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[2])
end
return 1
