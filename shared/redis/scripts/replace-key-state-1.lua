-- Reconciliation's repair of a child key's state hash: replace it whole with the state from
-- Postgres, only if its version is still the one reconciliation read (set-key-state only ever moves
-- forward, so it cannot repair a hash that is wrong at the current version).
-- KEYS: 1 state hash
-- ARGV: 1 expected version ('' = absent), then field/value pairs
local cur = redis.call('HGET', KEYS[1], 'v') or ''
if cur ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return 1
