-- KEYS list state lease; ARGV token seq [lastSeq] -> remaining length, or -1 when the lease was lost.
-- Pops the queue's items from the head while their seq is at most lastSeq (seq when absent): the
-- claimed head, or the claimed run.
--! keys 3
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
return redis.call('LLEN', KEYS[1])
