-- KEYS room members attrs; ARGV member('' = no check) now key... -> {status, attributes as one JSON
-- object}; status 0 no room, 1 not a member, 2 ok. One string instead of a reply element per key and value:
-- the client parses one string (JSON.parse) instead of a RESP element each, a third of a get-all's
-- CPU in roomkv. Keys due at `now` (ms, the caller's clock) but not yet swept are left out.
--! keys 3
--! include room-base
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
if ARGV[1] ~= '' and not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return {1} end
local gone = {}
for _, k in ipairs(redis.call('ZRANGEBYSCORE', base .. ':exp', '-inf', ARGV[2])) do gone[k] = true end
local out = {}
if #ARGV == 2 then
  local all = redis.call('HGETALL', KEYS[3])
  for i = 1, #all, 2 do
    if not gone[all[i]] then out[all[i]] = all[i + 1] end
  end
else
  local vals = redis.call('HMGET', KEYS[3], unpack(ARGV, 3))
  for i = 1, #vals do
    if vals[i] and not gone[ARGV[i + 2]] then out[ARGV[i + 2]] = vals[i] end
  end
end
if next(out) == nil then return {2, '{}'} end
return {2, cjson.encode(out)}
