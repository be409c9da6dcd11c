-- KEYS room members; ARGV now user... -> {status, new...}; status 0 no room, -1 full (then
-- maxusers), 1 ok.
--! keys 2
local maxusers = redis.call('HGET', KEYS[1], 'maxusers')
if not maxusers then return {0} end
local fresh = {}
for i = 2, #ARGV do
  if not redis.call('ZSCORE', KEYS[2], ARGV[i]) then fresh[#fresh + 1] = ARGV[i] end
end
if redis.call('ZCARD', KEYS[2]) + #fresh > tonumber(maxusers) then return {-1, maxusers} end
for i = 1, #fresh do redis.call('ZADD', KEYS[2], ARGV[1], fresh[i]) end
redis.call('HINCRBY', KEYS[1], 'ver', 1)
local out = {1}
for i = 1, #fresh do out[#out + 1] = fresh[i] end
return out
