-- KEYS list state lease; ARGV token seq -> remaining length, or -1 when the lease was lost
--! keys 3
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return -1 end
local head = redis.call('LINDEX', KEYS[1], 0)
if head and string.sub(head, 1, #ARGV[2] + 1) == ARGV[2] .. '|' then redis.call('LPOP', KEYS[1]) end
redis.call('DEL', KEYS[2], KEYS[3])
return redis.call('LLEN', KEYS[1])
