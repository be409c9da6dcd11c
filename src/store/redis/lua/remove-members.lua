-- A removal planned in JS (domain/rooms.ts planLeave), applied only while the membership of each
-- named user is still what the plan read. A leaving member's DELETE keys go with it, in one event.
-- KEYS room members attrs meta; ARGV event-block (user wasMember(0|1) leaves(0|1) post)*
-- -> {0} no room, {3} the room moved (plan again), {2, bytesFreed}.
--! keys 4
--! include room-base
--! include emit
--! include split-meta
local ev, a = readEv(ARGV, 1)
if not redis.call('HGET', KEYS[1], 'owner') then return { 0 } end
for i = a, #ARGV, 4 do
  local member = redis.call('ZSCORE', KEYS[2], ARGV[i]) and '1' or '0'
  if member ~= ARGV[i + 1] then return { 3 } end
end
local freed = 0
for i = a, #ARGV, 4 do
  local u, post = ARGV[i], ARGV[i + 3]
  if ARGV[i + 2] == '1' then
    local autoKey = base .. ':auto:' .. u
    local keys = redis.call('SMEMBERS', autoKey)
    table.sort(keys)
    for _, k in ipairs(keys) do
      local meta = redis.call('HGET', KEYS[4], k)
      if meta then freed = freed + select(2, splitMeta(meta)) end
      redis.call('HDEL', KEYS[3], k)
      redis.call('HDEL', KEYS[4], k)
    end
    redis.call('DEL', autoKey)
    redis.call('ZREM', KEYS[2], u)
    if #keys > 0 then emit(base, ev, post, jsonKeys(keys)) end
    -- seq 0: no event, the member's streams look at their rights (domain/events.ts membershipEnded)
    publishLive(ev, '0|' .. u)
  end
end
return { 2, freed }
