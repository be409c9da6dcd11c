-- Who is online in a room, read as a member (or, member '', with an app token).
-- KEYS room members on; ARGV member -> {0} no room, {1} not a member, {2, user...}
--! keys 3
if not redis.call('HGET', KEYS[1], 'owner') then return { 0 } end
if ARGV[1] ~= '' and not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return { 1 } end
local out = { 2 }
for _, u in ipairs(redis.call('HKEYS', KEYS[3])) do out[#out + 1] = u end
return out
