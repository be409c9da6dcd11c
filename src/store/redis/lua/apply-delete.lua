-- A delete planned in JS (domain/attributes.ts planDelete), applied only while the plan's
-- preconditions hold (lib/plan-check.lua); no rule is decided here.
-- KEYS room members attrs meta [usage]; ARGV event-block post plan-block bytesDelta n (key owner)*
-- -> {0} no room, {1} not a member, {2, seq (0: nothing removed), key count}, or staleReply.
--! keys *
--! include room-base
--! include emit
--! include plan-check
local ev, a = readEv(ARGV, 1)
local post = ARGV[a]
local status, b = checkPlan(ARGV, a + 1)
if status == 3 then return staleReply(ARGV, a + 1) end
if status ~= 2 then return { status } end
local delta, n = tonumber(ARGV[b]), tonumber(ARGV[b + 1])
b = b + 2
if n == 0 then return { 2, 0, redis.call('HLEN', KEYS[4]) } end
local keys = {}
for i = 0, n - 1 do
  local k = ARGV[b + i * 2]
  redis.call('HDEL', KEYS[3], k)
  redis.call('HDEL', KEYS[4], k)
  redis.call('SREM', base .. ':auto:' .. ARGV[b + 1 + i * 2], k)
  keys[#keys + 1] = k
end
if #KEYS >= 5 and delta ~= 0 then redis.call('INCRBY', KEYS[5], delta) end
local seq = emit(base, ev, post, jsonKeys(keys))
return { 2, seq, redis.call('HLEN', KEYS[4]) }
