-- Rebuild a child key's RPM window from the holds Postgres recorded in its last 60 s (Redis lost
-- it), unless the window exists: then live admissions or another loader own it, and this older
-- read must not undo them. Entries and expiry as admit-9.lua writes them.
-- KEYS: 1 rpm window
-- ARGV: score (admission ms), member (hold id), … in pairs
if #ARGV == 0 or redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
-- In slices: unpack is bounded by Lua's stack, and a window may hold up to RPM_LIMIT_MAX entries.
for i = 1, #ARGV, 2000 do
  redis.call('ZADD', KEYS[1], unpack(ARGV, i, math.min(i + 1999, #ARGV)))
end
redis.call('PEXPIRE', KEYS[1], 60000)
return 1
