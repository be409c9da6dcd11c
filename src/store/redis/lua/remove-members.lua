-- KEYS room members attrs meta; ARGV event-block allowOwner(0|1) (user post)*
-- -> {status, bytesFreed, (user result)*}; result: 'ok', 'owner' or 'absent'.
-- A leaving member's DELETE keys go with it, in one event.
--! keys 4
--! include room-base
--! include emit
local ev, a = readEv(ARGV, 1)
local allowOwner = ARGV[a]
local owner = redis.call('HGET', KEYS[1], 'owner')
if not owner then return {0} end
local freed = 0
local out = {1, 0}
for i = a + 1, #ARGV, 2 do
  local u, post = ARGV[i], ARGV[i + 1]
  if u == owner and allowOwner ~= '1' then
    out[#out + 1] = u; out[#out + 1] = 'owner'
  elseif not redis.call('ZSCORE', KEYS[2], u) then
    out[#out + 1] = u; out[#out + 1] = 'absent'
  else
    local autoKey = base .. ':auto:' .. u
    local keys = redis.call('SMEMBERS', autoKey)
    table.sort(keys)
    for _, k in ipairs(keys) do
      local meta = redis.call('HGET', KEYS[4], k)
      if meta then freed = freed + tonumber(string.match(meta, '([^|]*)$')) end
      redis.call('HDEL', KEYS[3], k)
      redis.call('HDEL', KEYS[4], k)
    end
    redis.call('DEL', autoKey)
    redis.call('ZREM', KEYS[2], u)
    if #keys > 0 then emit(base, ev, post, jsonKeys(keys)) end
    -- seq 0: no event, the member's streams look at their rights (domain/events.ts membershipEnded)
    redis.call('PUBLISH', ev.channel, '0|' .. u)
    out[#out + 1] = u; out[#out + 1] = 'ok'
  end
end
redis.call('HINCRBY', KEYS[1], 'ver', 1)
out[2] = freed
return out
