-- KEYS room attrs -> {} no room, else {seq, k1, v1, ...}
--! keys 2
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
local out = {redis.call('HGET', KEYS[1], 'seq') or '0'}
local all = redis.call('HGETALL', KEYS[2])
for i = 1, #all do out[#out + 1] = all[i] end
return out
