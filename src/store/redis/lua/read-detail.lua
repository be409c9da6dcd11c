-- A get with detail (spec section 10): each key with its meta entry "owner|auto|bytes|revision|expiresAt".
-- KEYS room members attrs meta; ARGV member ('' = no check) now key... (none: every key)
-- -> {0} no room, {1} not a member, {2, (key value meta)*}. Keys due at `now` (ms, the caller's
-- clock) but not yet swept are left out.
--! keys 4
--! include room-base
if not redis.call('HGET', KEYS[1], 'owner') then return { 0 } end
if ARGV[1] ~= '' and not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return { 1 } end
local gone = {}
for _, k in ipairs(redis.call('ZRANGEBYSCORE', base .. ':exp', '-inf', ARGV[2])) do gone[k] = true end
local out = { 2 }
local function add(k, v)
  if gone[k] then return end
  out[#out + 1] = k
  out[#out + 1] = v
  out[#out + 1] = redis.call('HGET', KEYS[4], k) or ''
end
if #ARGV > 2 then
  for i = 3, #ARGV do
    local v = redis.call('HGET', KEYS[3], ARGV[i])
    if v then add(ARGV[i], v) end
  end
else
  local all = redis.call('HGETALL', KEYS[3])
  for i = 1, #all, 2 do add(all[i], all[i + 1]) end
end
return out
