-- A delete planned inside the room's script, as SET_PLANNED is a set: planDelete's rules.
-- KEYS room members attrs meta usage; ARGV event-block post user checkMember(0|1) forced(0|1)
-- key... (de-duplicated) -> {status, bytesDelta, code...}: code per key 0 removed, 1 missing,
-- 2 not yours.
--! keys 5
--! include room-base
--! include emit
--! include split-meta
local ev, a = readEv(ARGV, 1)
local post, user, checkMember, forced = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
a = a + 4
if not redis.call('HGET', KEYS[1], 'ver') then return {0} end
if checkMember == '1' and not redis.call('ZSCORE', KEYS[2], user) then return {1} end
-- Plan every key first, then delete: a failure while planning leaves the room untouched.
local delta = 0
local out = {2, 0}
local removals = {}
for i = a, #ARGV do
  local k = ARGV[i]
  local meta = redis.call('HGET', KEYS[4], k)
  local code = 0
  if not meta then
    code = 1
  else
    local owner, size = splitMeta(meta)
    if owner ~= user and forced ~= '1' then
      code = 2
    else
      removals[#removals + 1] = { k = k, owner = owner }
      delta = delta - size
    end
  end
  out[#out + 1] = code
end
if #removals > 0 then
  local removed = {}
  for _, r in ipairs(removals) do
    redis.call('HDEL', KEYS[3], r.k)
    redis.call('HDEL', KEYS[4], r.k)
    redis.call('SREM', base .. ':auto:' .. r.owner, r.k)
    removed[#removed + 1] = r.k
  end
  redis.call('HINCRBY', KEYS[1], 'ver', 1)
  if delta ~= 0 then redis.call('INCRBY', KEYS[5], delta) end
  emit(base, ev, post, jsonKeys(removed))
end
out[2] = delta
return out
