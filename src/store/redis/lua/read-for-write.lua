-- A room's state for a write planned in JS (domain/), before APPLY_SET or APPLY_DELETE commits it.
-- KEYS room members meta; ARGV user checkMember(0|1) key... -> {status, ver, count, meta...};
-- status 0 no room, 1 not member, 2 ok.
--! keys 3
local ver = redis.call('HGET', KEYS[1], 'ver')
if not ver then return {0} end
if ARGV[2] == '1' and not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return {1} end
local out = {2, ver, redis.call('HLEN', KEYS[3])}
if #ARGV > 2 then
  local metas = redis.call('HMGET', KEYS[3], unpack(ARGV, 3))
  for i = 1, #metas do out[#out + 1] = metas[i] or '' end
end
return out
