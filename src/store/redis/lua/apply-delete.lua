-- KEYS room attrs meta; ARGV event-block post ver n (key owner)* -> 1 applied, 0 version moved.
--! keys 3
--! include room-base
--! include emit
local ev, a = readEv(ARGV, 1)
local post = ARGV[a]
a = a + 1
if redis.call('HGET', KEYS[1], 'ver') ~= ARGV[a] then return 0 end
local n = tonumber(ARGV[a + 1])
local removed = {}
for i = 0, n - 1 do
  local k, owner = ARGV[a + 2 + i * 2], ARGV[a + 3 + i * 2]
  redis.call('HDEL', KEYS[2], k)
  redis.call('HDEL', KEYS[3], k)
  redis.call('SREM', base .. ':auto:' .. owner, k)
  removed[#removed + 1] = k
end
redis.call('HINCRBY', KEYS[1], 'ver', 1)
emit(base, ev, post, jsonKeys(removed))
return 1
