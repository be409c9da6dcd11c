-- KEYS room attrs; ARGV now -> {} no room, else {seq, k1, v1, ...}; keys due at `now` (ms, the
-- caller's clock) but not yet swept are left out.
--! keys 2
--! include room-base
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
local gone = {}
for _, k in ipairs(redis.call('ZRANGEBYSCORE', base .. ':exp', '-inf', ARGV[1])) do gone[k] = true end
local out = {redis.call('HGET', KEYS[1], 'seq') or '0'}
local all = redis.call('HGETALL', KEYS[2])
for i = 1, #all, 2 do
  if not gone[all[i]] then
    out[#out + 1] = all[i]
    out[#out + 1] = all[i + 1]
  end
end
return out
