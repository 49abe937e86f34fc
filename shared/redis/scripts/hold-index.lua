-- An account's hold records are named in its index (keys.heldRecords), so a load can find the ones
-- it must count or mark (load-balance-n.lua, load-counters-n.lua). The index lives at least as long
-- as any record named in it, to within a minute (it is stretched at most once a minute, so a busy
-- account's admissions do not each reset it); a release takes its name out.
local function indexHold(index, holdId, ttl)
  redis.call('SADD', index, holdId)
  if redis.call('TTL', index) < tonumber(ttl) - 60 then redis.call('EXPIRE', index, ttl) end
end

-- Whether a record says the value of `flag` ('xb' balance, 'xd' day counter, 'xm' month counter)
-- was loaded from a Postgres read that already saw its hold resolved: its release skips that value
-- (release-holds-n.lua reads the three flags at once).
local function settledIn(record, flag)
  return redis.call('HEXISTS', record, flag) == 1
end
