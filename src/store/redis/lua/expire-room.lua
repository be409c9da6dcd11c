-- The room's keys whose time has come go (spec section 10's ttl): each as a delete would remove it,
-- with one `expired` event per owner (`from` the owner, keys sorted), its bytes freed. Only what the
-- room's own expiry index says is due at `now` goes, so of instances sweeping at once one removes
-- each key; a key written again since (a new expiry, or none) is not due.
-- KEYS room attrs meta [usage]; ARGV event-block postHead postTail now, where the event's post is
-- postHead .. owner .. postTail.
-- -> {0} no room, else {1, bytesFreed, key count, removed key...}.
--! keys *
--! include room-base
--! include emit
--! include split-meta
local ev, a = readEv(ARGV, 1)
local head, tail, now = ARGV[a], ARGV[a + 1], ARGV[a + 2]
if not redis.call('HGET', KEYS[1], 'owner') then return { 0 } end
local expKey = base .. ':exp'
local due = redis.call('ZRANGEBYSCORE', expKey, '-inf', now)
local out = { 1, 0, 0 }
if #due == 0 then
  out[3] = redis.call('HLEN', KEYS[3])
  return out
end
table.sort(due)
local owners, keysOf, prevsOf, freed = {}, {}, {}, 0
for _, k in ipairs(due) do
  local meta = redis.call('HGET', KEYS[3], k)
  if meta then
    local owner, bytes = splitMeta(meta)
    if not keysOf[owner] then
      owners[#owners + 1] = owner
      keysOf[owner], prevsOf[owner] = {}, {}
    end
    keysOf[owner][#keysOf[owner] + 1] = k
    prevsOf[owner][#prevsOf[owner] + 1] = prevEntry(k, redis.call('HGET', KEYS[2], k), owner)
    freed = freed + bytes
    redis.call('HDEL', KEYS[2], k)
    redis.call('HDEL', KEYS[3], k)
    redis.call('SREM', base .. ':auto:' .. owner, k)
    out[#out + 1] = k
  end
  redis.call('ZREM', expKey, k)
end
table.sort(owners)
for _, owner in ipairs(owners) do
  emit(base, ev, head .. owner .. tail, jsonKeys(keysOf[owner]), jsonObject(prevsOf[owner]))
end
if #KEYS >= 4 and freed ~= 0 then redis.call('INCRBY', KEYS[4], -freed) end
out[2] = freed
out[3] = redis.call('HLEN', KEYS[3])
return out
