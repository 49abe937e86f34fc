-- Take out of an account's index of hold records (hold-index.lua) the names whose records are gone
-- without a release (expired: an orphan left past its life, a record deleted on its own), which
-- nothing else would: a busy account's index never expires. Atomic per name, so a record written
-- again meanwhile (a load's, for an open hold) keeps its name.
-- KEYS: 1 the index, then the records named
-- ARGV: the names (hold ids), in the same order
local pruned = 0
for i = 1, #ARGV do
  if redis.call('EXISTS', KEYS[i + 1]) == 0 then pruned = pruned + redis.call('SREM', KEYS[1], ARGV[i]) end
end
return pruned
