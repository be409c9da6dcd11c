-- A get with detail (spec section 10): each key with its meta entry "owner|auto|bytes|revision".
-- KEYS room members attrs meta; ARGV member ('' = no check) key... (none: every key)
-- -> {0} no room, {1} not a member, {2, (key value meta)*}.
--! keys 4
if not redis.call('HGET', KEYS[1], 'owner') then return { 0 } end
if ARGV[1] ~= '' and not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return { 1 } end
local out = { 2 }
local function add(k, v)
  out[#out + 1] = k
  out[#out + 1] = v
  out[#out + 1] = redis.call('HGET', KEYS[4], k) or ''
end
if #ARGV > 1 then
  for i = 2, #ARGV do
    local v = redis.call('HGET', KEYS[3], ARGV[i])
    if v then add(ARGV[i], v) end
  end
else
  local all = redis.call('HGETALL', KEYS[3])
  for i = 1, #all, 2 do add(all[i], all[i + 1]) end
end
return out
