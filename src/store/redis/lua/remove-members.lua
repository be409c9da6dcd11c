-- A removal planned in JS (domain/rooms.ts planLeave; for an offline leave domain/presence.ts
-- planOfflineLeave), applied only while the membership of each named user is still what the plan
-- read and, where the plan names one, the user is still offline since the time it read (a
-- reconnect clears it). A leaving member's DELETE keys go with it, in one event; its presence goes
-- too (an online member is offline from now).
-- KEYS room members attrs meta pres on off; ARGV event-block presence-block
-- (user wasMember(0|1) leaves(0|1) post offlineSince('' = no condition))*
-- -> {0} no room, {3} the room moved (plan again), {2, bytesFreed}.
--! keys 7
--! include room-base
--! include emit
--! include split-meta
--! include presence
local ev, a = readEv(ARGV, 1)
local p, b = readPresence(ARGV, a)
local pk = { pres = KEYS[5], on = KEYS[6], off = KEYS[7] }
if not redis.call('HGET', KEYS[1], 'owner') then return { 0 } end
for i = b, #ARGV, 5 do
  local member = redis.call('ZSCORE', KEYS[2], ARGV[i]) and '1' or '0'
  if member ~= ARGV[i + 1] then return { 3 } end
  if ARGV[i + 4] ~= '' and (redis.call('HGET', pk.off, ARGV[i]) or '') ~= ARGV[i + 4] then return { 3 } end
end
local freed = 0
for i = b, #ARGV, 5 do
  local u, post = ARGV[i], ARGV[i + 3]
  if ARGV[i + 2] == '1' then
    local autoKey = base .. ':auto:' .. u
    local keys = redis.call('SMEMBERS', autoKey)
    table.sort(keys)
    local prevs = {}
    for _, k in ipairs(keys) do
      local meta = redis.call('HGET', KEYS[4], k)
      if meta then freed = freed + select(2, splitMeta(meta)) end
      prevs[#prevs + 1] = prevEntry(k, redis.call('HGET', KEYS[3], k), u)
      redis.call('HDEL', KEYS[3], k)
      redis.call('HDEL', KEYS[4], k)
      redis.call('ZREM', base .. ':exp', k)
    end
    redis.call('DEL', autoKey)
    redis.call('ZREM', KEYS[2], u)
    if #keys > 0 then emit(base, ev, post, jsonKeys(keys), jsonObject(prevs)) end
    -- seq 0: no event, the member's streams look at their rights (domain/events.ts membershipEnded)
    publishLive(ev, '0|' .. u)
    forgetPresence(ev, p, pk, u)
  end
end
return { 2, freed }
