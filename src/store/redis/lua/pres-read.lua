-- What an offline leave (domain/presence.ts) is planned from: the room's owner and, for each user
-- named (none: every user offline in the room), whether it is a member and since when offline.
-- KEYS room members off; ARGV user... -> {0} no room, else {1, owner, (user, member(1|0), offlineSince or '')*}
--! keys 3
local owner = redis.call('HGET', KEYS[1], 'owner')
if not owner then return { 0 } end
local users = ARGV
if #users == 0 then users = redis.call('HKEYS', KEYS[3]) end
local out = { 1, owner }
for _, u in ipairs(users) do
  out[#out + 1] = u
  out[#out + 1] = redis.call('ZSCORE', KEYS[2], u) and 1 or 0
  out[#out + 1] = redis.call('HGET', KEYS[3], u) or ''
end
return out
