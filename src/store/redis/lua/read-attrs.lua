-- KEYS room members attrs; ARGV member('' = no check) key... -> {status, attributes as one JSON
-- object}; status 0 no room, 1 not a member, 2 ok. One string instead of a reply element per key and value:
-- the client parses one string (JSON.parse) instead of a RESP element each, a third of a get-all's
-- CPU in roomkv.
--! keys 3
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
if ARGV[1] ~= '' and not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return {1} end
local out = {}
if #ARGV == 1 then
  local all = redis.call('HGETALL', KEYS[3])
  for i = 1, #all, 2 do out[all[i]] = all[i + 1] end
else
  local vals = redis.call('HMGET', KEYS[3], unpack(ARGV, 2))
  for i = 1, #vals do
    if vals[i] then out[ARGV[i + 1]] = vals[i] end
  end
end
if next(out) == nil then return {2, '{}'} end
return {2, cjson.encode(out)}
