-- A set planned in JS (domain/attributes.ts planSet), applied only while the plan's preconditions
-- hold (lib/plan-check.lua); no rule is decided here.
-- KEYS room members attrs meta [usage]; ARGV event-block post plan-block auto bytesDelta n
-- (key value bytes fragment prevOwner expiresAt)*, where fragment is the pair as JSON
-- ("key":"value") for the event, prevOwner the key's owner before ('' when new) and expiresAt
-- when the key expires (ms; '' none: a key written without a ttl keeps no expiry).
-- -> {0} no room, {1} not a member, {2, seq (0: nothing written), key count}, {4} the room holds a
-- due key (sweep it, plan again), or staleReply.
--! keys *
--! include room-base
--! include emit
--! include plan-check
local ev, a = readEv(ARGV, 1)
local post, user = ARGV[a], ARGV[a + 1]
local status, b = checkPlan(ARGV, a + 1, ev.ts)
if status == 3 then return staleReply(ARGV, a + 1) end
if status ~= 2 then return { status } end
local auto, delta, n = ARGV[b], tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2])
b = b + 3
if n == 0 then return { 2, 0, redis.call('HLEN', KEYS[4]) } end
local seq = nextSeq(base)
local frags, prevs = {}, {}
local gaveExp = false
for i = 0, n - 1 do
  local j = b + i * 6
  local k, size, prev, exp = ARGV[j], ARGV[j + 2], ARGV[j + 4], ARGV[j + 5]
  prevs[#prevs + 1] = prevEntry(k, prev ~= '' and redis.call('HGET', KEYS[3], k), prev)
  redis.call('HSET', KEYS[3], k, ARGV[j + 1])
  redis.call('HSET', KEYS[4], k, user .. '|' .. auto .. '|' .. size .. '|' .. seq .. '|' .. exp)
  -- Index entries are moved only when they change (a member setting its own key again, with no
  -- expiry before or now, touches neither index).
  local pOwner, pAuto, pExp = nil, nil, nil
  if prev ~= '' then pOwner, pAuto, pExp = planned(k) end
  if exp ~= '' then
    redis.call('ZADD', base .. ':exp', exp, k)
    gaveExp = true
  elseif prev ~= '' and pExp ~= false then
    redis.call('ZREM', base .. ':exp', k)
  end
  local kept = pOwner == user and pAuto == auto
  if prev ~= '' and pAuto ~= '0' and not kept then redis.call('SREM', base .. ':auto:' .. prev, k) end
  if auto == '1' and not kept then redis.call('SADD', base .. ':auto:' .. user, k) end
  frags[#frags + 1] = ARGV[j + 3]
end
-- The room holds a key with an expiry now: its writes look at the expiry index from here on.
if gaveExp then redis.call('HDEL', KEYS[1], 'noexp') end
if #KEYS >= 5 and delta ~= 0 then redis.call('INCRBY', KEYS[5], delta) end
emitAt(base, ev, seq, post, '{' .. table.concat(frags, ',') .. '}', jsonObject(prevs))
return { 2, seq, redis.call('HLEN', KEYS[4]) }
