-- The key checks of admit-9.lua and key-access-3.lua (prepended to every script, as decimal.lua):
-- nil when the child key may be used at `now`, else the status it is refused with. A revoked
-- management key takes its children down; a child's own status; its expiry (ms, 0: none).
local function keyRefusal(status, expiresMs, mkStatus, now)
  if mkStatus == 'revoked' then return 'revoked' end
  if status ~= 'active' then return status end
  local exp = tonumber(expiresMs)
  if exp > 0 and now >= exp then return 'expired' end
  return nil
end
