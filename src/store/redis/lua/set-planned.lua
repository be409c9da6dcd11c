-- The rules of a set, planned inside the room's script: one round trip on a single Redis, where
-- the app's usage counter may sit beside the room in one script (on a cluster it is in another
-- slot, and a write reads with READ_FOR_WRITE, plans in JS and commits with APPLY_SET). The checks
-- and their order are planSet's (domain/attributes.ts); the checks that need no stored state ran
-- in JS before, and only the pairs that passed them come here.
-- KEYS room members attrs meta usage; ARGV event-block post user checkMember(0|1) forced(0|1)
-- auto(0|1) maxAttributes maxAppBytes n (key value bytes fragment)*, where fragment is the pair
-- as JSON ("key":"value") for the event's attributes -> {status, bytesDelta, code...}: status as
-- READ_FOR_WRITE; code per pair 0 set, 1 not yours, 2 room full, 3 app quota.
--! keys 5
--! include room-base
--! include emit
--! include split-meta
local ev, a = readEv(ARGV, 1)
local post, user, checkMember, forced, auto = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
local maxAttrs, maxBytes, n = tonumber(ARGV[a + 5]), tonumber(ARGV[a + 6]), tonumber(ARGV[a + 7])
a = a + 8
if not redis.call('HGET', KEYS[1], 'ver') then return {0} end
if checkMember == '1' and not redis.call('ZSCORE', KEYS[2], user) then return {1} end
local count = redis.call('HLEN', KEYS[4])
local bytes = tonumber(redis.call('GET', KEYS[5]) or '0')
if not bytes then return redis.error_reply('the app usage counter is not a number') end
-- Plan every pair first, then write: a failure while planning leaves the room untouched.
local delta = 0
local out = {2, 0}
local writes = {}
for i = 0, n - 1 do
  local k, size = ARGV[a + i * 4], tonumber(ARGV[a + 2 + i * 4])
  local meta = redis.call('HGET', KEYS[4], k)
  local owner, prevBytes = nil, 0
  if meta then owner, prevBytes = splitMeta(meta) end
  local code = 0
  if meta and owner ~= user and forced ~= '1' then
    code = 1
  elseif not meta and count >= maxAttrs then
    code = 2
  elseif size - prevBytes > 0 and bytes + size - prevBytes > maxBytes then
    code = 3
  else
    if not meta then count = count + 1 end
    bytes = bytes + size - prevBytes
    delta = delta + size - prevBytes
    writes[#writes + 1] = { i = i, owner = owner }
  end
  out[#out + 1] = code
end
if #writes > 0 then
  local frags = {}
  for _, w in ipairs(writes) do
    local k, v, size, frag = ARGV[a + w.i * 4], ARGV[a + 1 + w.i * 4], ARGV[a + 2 + w.i * 4], ARGV[a + 3 + w.i * 4]
    redis.call('HSET', KEYS[3], k, v)
    redis.call('HSET', KEYS[4], k, user .. '|' .. auto .. '|' .. size)
    if w.owner then redis.call('SREM', base .. ':auto:' .. w.owner, k) end
    if auto == '1' then redis.call('SADD', base .. ':auto:' .. user, k) end
    frags[#frags + 1] = frag
  end
  redis.call('HINCRBY', KEYS[1], 'ver', 1)
  if delta ~= 0 then redis.call('INCRBY', KEYS[5], delta) end
  emit(base, ev, post, '{' .. table.concat(frags, ',') .. '}')
end
out[2] = delta
return out
