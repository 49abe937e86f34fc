-- The key checks of admit-9.lua and key-access-3.lua (prepended to every script, as decimal.lua):
-- nil when the child key may be used at `now`, else the status it is refused with. A revoked
-- management key takes its children down; the secret presented must be the key's current one, or
-- the one its last rotation replaced while its grace lasts (fingerprints: `secret` presented, ''
-- for a request no client presents, such as a batch's line; `current`, `previous` and until when
-- (ms) from the key's state, nil in a state published before rotation existed); then the child's
-- expiry (ms, 0: none) and its own status.
local function keyRefusal(status, expiresMs, mkStatus, now, secret, current, previous, previousUntil)
  if mkStatus == 'revoked' then return 'revoked' end
  if secret ~= '' and current and current ~= '' and secret ~= current
    and not (secret == previous and now < tonumber(previousUntil or '0')) then
    return 'rotated'
  end
  -- Past its expiry a key is expired, disabled or not, as its GET shows it; deleted is final and wins.
  if status == 'deleted' then return status end
  local exp = tonumber(expiresMs)
  if exp > 0 and now >= exp then return 'expired' end
  if status ~= 'active' then return status end
  return nil
end
