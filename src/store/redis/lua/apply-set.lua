-- KEYS room attrs meta; ARGV event-block post attrs ver user auto n (key value bytes prevOwner)*
-- -> 1 applied, 0 version moved.
--! keys 3
--! include room-base
--! include emit
local ev, a = readEv(ARGV, 1)
local post, attrs = ARGV[a], ARGV[a + 1]
a = a + 2
if redis.call('HGET', KEYS[1], 'ver') ~= ARGV[a] then return 0 end
local user, auto, n = ARGV[a + 1], ARGV[a + 2], tonumber(ARGV[a + 3])
for i = 0, n - 1 do
  local k, v, bytes, prev = ARGV[a + 4 + i * 4], ARGV[a + 5 + i * 4], ARGV[a + 6 + i * 4], ARGV[a + 7 + i * 4]
  redis.call('HSET', KEYS[2], k, v)
  redis.call('HSET', KEYS[3], k, user .. '|' .. auto .. '|' .. bytes)
  if prev ~= '' then redis.call('SREM', base .. ':auto:' .. prev, k) end
  if auto == '1' then redis.call('SADD', base .. ':auto:' .. user, k) end
end
redis.call('HINCRBY', KEYS[1], 'ver', 1)
emit(base, ev, post, attrs)
return 1
