-- KEYS list state lease; ARGV now leaseMs token -> {0} empty, {1} not due, {2} leased elsewhere,
-- {3, head, attempts, firstAt}: claimed; the lease keeps other instances off this queue.
--! keys 3
local head = redis.call('LINDEX', KEYS[1], 0)
if not head then return {0} end
local st = redis.call('HMGET', KEYS[2], 'attempts', 'nextAt', 'firstAt')
if st[2] and tonumber(st[2]) > tonumber(ARGV[1]) then return {1} end
if not redis.call('SET', KEYS[3], ARGV[3], 'NX', 'PX', ARGV[2]) then return {2} end
return {3, head, st[1] or '0', st[3] or ''}
