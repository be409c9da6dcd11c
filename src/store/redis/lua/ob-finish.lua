-- KEYS list state lease [index]; ARGV token seq lastSeq [roomId] -> remaining length, or -1 when
-- the lease was lost. Pops the queue's items from the head while their seq is at most lastSeq (seq
-- when absent): the claimed head, or the claimed run. With index (a single Redis: the endpoint's
-- outbox index, in another slot), a drained queue leaves it here, in the same step.
--! keys *
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return -1 end
local last = tonumber(ARGV[3] or ARGV[2])
while true do
  local head = redis.call('LINDEX', KEYS[1], 0)
  if not head then break end
  local seq = tonumber(string.match(head, '^(%d+)|'))
  if not seq or seq > last then break end
  redis.call('LPOP', KEYS[1])
end
redis.call('DEL', KEYS[2], KEYS[3])
local left = redis.call('LLEN', KEYS[1])
if left == 0 and KEYS[4] then redis.call('SREM', KEYS[4], ARGV[4]) end
return left
