-- A join planned in JS (domain/rooms.ts planJoin), applied only while what it read still holds: the
-- membership of each named user, and a member count of at most countMax.
-- KEYS room members; ARGV now countMax (user wasMember(0|1))* -> {0} no room, {2} applied, {3} the
-- room moved (plan again).
--! keys 2
if not redis.call('HGET', KEYS[1], 'owner') then return { 0 } end
if redis.call('ZCARD', KEYS[2]) > tonumber(ARGV[2]) then return { 3 } end
for i = 3, #ARGV, 2 do
  local member = redis.call('ZSCORE', KEYS[2], ARGV[i]) and '1' or '0'
  if member ~= ARGV[i + 1] then return { 3 } end
end
for i = 3, #ARGV, 2 do
  if ARGV[i + 1] == '0' then redis.call('ZADD', KEYS[2], ARGV[1], ARGV[i]) end
end
return { 2 }
