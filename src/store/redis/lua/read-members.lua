-- What the room rules (domain/rooms.ts) plan a membership change from.
-- KEYS room members; ARGV user... -> {0} no room, else {1, owner, maxusers, member count, (1|0 per user)*}.
--! keys 2
local h = redis.call('HMGET', KEYS[1], 'owner', 'maxusers')
if not h[1] then return { 0 } end
local out = { 1, h[1], h[2], redis.call('ZCARD', KEYS[2]) }
for i = 1, #ARGV do out[#out + 1] = redis.call('ZSCORE', KEYS[2], ARGV[i]) and 1 or 0 end
return out
