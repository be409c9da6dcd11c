-- KEYS list state lease; ARGV now leaseMs token [run] -> {0} empty, {1} not due, {2} leased elsewhere,
-- {3, head, attempts, firstAt, next...}: claimed, with up to run - 1 of the queue's next items after
-- the head (a batching endpoint's run; run absent or 1: the head alone); the lease keeps other
-- instances off this queue.
--! keys 3
local head = redis.call('LINDEX', KEYS[1], 0)
if not head then return {0} end
local st = redis.call('HMGET', KEYS[2], 'attempts', 'nextAt', 'firstAt')
if st[2] and tonumber(st[2]) > tonumber(ARGV[1]) then return {1} end
if not redis.call('SET', KEYS[3], ARGV[3], 'NX', 'PX', ARGV[2]) then return {2} end
local out = {3, head, st[1] or '0', st[3] or ''}
local run = tonumber(ARGV[4] or '1')
if run > 1 then
  for _, item in ipairs(redis.call('LRANGE', KEYS[1], 1, run - 1)) do out[#out + 1] = item end
end
return out
