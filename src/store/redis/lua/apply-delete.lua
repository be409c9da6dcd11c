-- A delete planned in JS (domain/attributes.ts planDelete), applied only while the plan's
-- preconditions hold (lib/plan-check.lua); no rule is decided here.
-- KEYS room members attrs meta [usage]; ARGV event-block post plan-block bytesDelta n (key owner)*
-- -> {0} no room, {1} not a member, {2, seq (0: nothing removed), key count}, {4} the room holds a
-- due key (sweep it, plan again), or staleReply.
--! keys *
--! include room-base
--! include emit
--! include plan-check
local ev, a = readEv(ARGV, 1)
local post = ARGV[a]
local status, b = checkPlan(ARGV, a + 1, ev.ts)
if status == 3 then return staleReply(ARGV, a + 1) end
if status ~= 2 then return { status } end
local delta, n = tonumber(ARGV[b]), tonumber(ARGV[b + 1])
b = b + 2
if n == 0 then return { 2, 0, redis.call('HLEN', KEYS[4]) } end
local keys, prevs = {}, {}
for i = 0, n - 1 do
  local k, owner = ARGV[b + i * 2], ARGV[b + 1 + i * 2]
  prevs[#prevs + 1] = prevEntry(k, redis.call('HGET', KEYS[3], k), owner)
  redis.call('HDEL', KEYS[3], k)
  redis.call('HDEL', KEYS[4], k)
  local _, pAuto, pExp = planned(k)
  if pExp ~= false then redis.call('ZREM', base .. ':exp', k) end
  if pAuto ~= '0' then redis.call('SREM', base .. ':auto:' .. owner, k) end
  keys[#keys + 1] = k
end
if #KEYS >= 5 and delta ~= 0 then redis.call('INCRBY', KEYS[5], delta) end
local seq = emit(base, ev, post, jsonKeys(keys), jsonObject(prevs))
return { 2, seq, redis.call('HLEN', KEYS[4]) }
