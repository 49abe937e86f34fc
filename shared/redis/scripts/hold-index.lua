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

-- Write a hold record: its fields ({name, value, …}) with the generations of the values its
-- reservation was taken from, where they exist: the account's balance generation (`bg`, the load
-- epoch of its last balance load: load-balance-n.lua) and its key's counters' generation (`cg`,
-- moved by every counters load: load-counters-n.lua).
local function writeRecord(record, fields, balanceGeneration, countersGeneration)
  if balanceGeneration then
    table.insert(fields, 'bg')
    table.insert(fields, balanceGeneration)
  end
  if countersGeneration then
    table.insert(fields, 'cg')
    table.insert(fields, countersGeneration)
  end
  redis.call('HSET', record, unpack(fields))
end

-- A record its account's index does not name (lost on its own): a load since could not see it, to
-- mark it or count it. Which of its values no load rebuilt since it was written (its generations
-- unchanged: releasing into them is safe), as {balance, counters}; a generation it lacks is taken
-- as moved.
local function unrebuilt(record, balanceGeneration, keyState)
  local g = redis.call('HMGET', record, 'bg', 'cg')
  return g[1] and g[1] == redis.call('GET', balanceGeneration), g[2] and g[2] == redis.call('HGET', keyState, 'cg')
end
