-- Exact nGNK arithmetic for the scripts that compare or add amounts (prepended to them by
-- shared/redis/scripts.ts). A Lua number is a double, exact only to 2^53 nGNK (about 9 million
-- GNK), past which a sum or a comparison could be off by a few nGNK. An amount is a decimal string
-- split into two limbs of up to 9 digits' worth each, exact to 9e24 (Redis's own integers stop at
-- 9.2e18). A negative amount (never written) reads as 0.
local DECIMAL_BASE = 1000000000
local function limbs(s)
  if string.sub(s, 1, 1) == '-' then return 0, 0 end
  local n = #s
  if n <= 9 then return 0, tonumber(s) end
  return tonumber(string.sub(s, 1, n - 9)), tonumber(string.sub(s, n - 8))
end
local function greater(ah, al, bh, bl) return ah > bh or (ah == bh and al > bl) end
local function plus(ah, al, bh, bl)
  local l = al + bl
  if l >= DECIMAL_BASE then return ah + bh + 1, l - DECIMAL_BASE end
  return ah + bh, l
end
-- a - b, for a >= b
local function minus(ah, al, bh, bl)
  local h, l = ah - bh, al - bl
  if l < 0 then h, l = h - 1, l + DECIMAL_BASE end
  return h, l
end
local function decimal(h, l)
  if h == 0 then return string.format('%d', l) end
  return string.format('%d%09d', h, l)
end
