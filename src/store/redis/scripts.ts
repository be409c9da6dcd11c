/**
 * Lua scripts of the Redis store. On a cluster each touches only keys of one room (one hash tag, so
 * one slot) or of one app, and carries no rules: the rules are planned in JS by domain/ over a
 * snapshot read with READ_FOR_WRITE, and APPLY_* commit the plan only if the room's version is
 * still the one that snapshot saw (compare-and-set). On a single Redis, SET_PLANNED and
 * DELETE_PLANNED plan and apply a call in one script, the app's usage counter with the room's keys
 * (one round trip); they follow domain/'s rules. npm test runs the store conformance suite on a
 * single Redis and on a cluster, so on both paths.
 * Every change to a room bumps its version.
 *
 * Room keys, with B = prefix .. '{app:room}':
 *   B:room     HASH  name description owner maxusers created ver
 *   B:members  ZSET  username -> joined ms
 *   B:attrs    HASH  key -> value
 *   B:meta     HASH  key -> "owner|auto|bytes"   (auto 1 = DELETE)
 *   B:auto:<u> SET   keys owned by u with autoDelete DELETE: a member leaving costs O(its keys)
 *   B:log      STREAM the room's events, entry id 0-<seq>, fields t (ms) and b (JSON body)
 *   B:ob:<ep>  LIST  "seq|body" of events waiting for webhook endpoint <ep>, oldest first
 *   B:obs:<ep> HASH  attempts nextAt firstAt of the head of that list; B:obl:<ep> its lease
 * `room.seq` counts the room's events. Every script that changes attributes emits its event in the
 * same script: log entry, outbox entries and PUBLISH, so none of them can be missing or extra.
 */

/** Shared by scripts that work on a room: KEYS[1] is B:room. */
const ROOM_BASE = `local base = string.sub(KEYS[1], 1, -6)`;

/**
 * The event half of a write script. ARGV starts with an event block:
 *   ts pre mid channel minEvents minAgeMs nEndpoints endpoint...
 * emit() draws the room's next seq and writes the body pre..seq..mid..seq..post..attrs..'}'.
 */
const EMIT = `
local function readEv(argv, i)
  local ev = { ts = argv[i], pre = argv[i + 1], mid = argv[i + 2], channel = argv[i + 3],
    minEvents = tonumber(argv[i + 4]), minAge = tonumber(argv[i + 5]), endpoints = {} }
  local n = tonumber(argv[i + 6])
  for j = 1, n do ev.endpoints[j] = argv[i + 6 + j] end
  return ev, i + 7 + n
end
local function jsonKeys(keys)
  if #keys == 0 then return '[]' end
  return '["' .. table.concat(keys, '","') .. '"]'
end
local function emit(base, ev, post, attrs)
  local seq = redis.call('HINCRBY', base .. ':room', 'seq', 1)
  local body = ev.pre .. seq .. ev.mid .. seq .. post .. attrs .. '}'
  local logKey = base .. ':log'
  redis.call('XADD', logKey, '0-' .. seq, 't', ev.ts, 'b', body)
  for _, ep in ipairs(ev.endpoints) do redis.call('RPUSH', base .. ':ob:' .. ep, seq .. '|' .. body) end
  redis.call('PUBLISH', ev.channel, seq .. '|' .. body)
  if seq % 64 == 0 and seq > ev.minEvents then
    -- drop what is both beyond the newest minEvents and older than minAge
    local entries = redis.call('XRANGE', logKey, '-', '0-' .. (seq - ev.minEvents), 'COUNT', 256)
    local upto = nil
    for _, e in ipairs(entries) do
      if tonumber(e[2][2]) < tonumber(ev.ts) - ev.minAge then upto = tonumber(string.sub(e[1], 3)) else break end
    end
    if upto then redis.call('XTRIM', logKey, 'MINID', '0-' .. (upto + 1)) end
  end
  return seq
end`;

/** A meta entry "owner|auto|bytes" as owner and bytes. */
const SPLIT_META = `
local function splitMeta(meta)
  local bar = string.find(meta, '|', 1, true)
  return string.sub(meta, 1, bar - 1), tonumber(string.match(meta, '[^|]*$'))
end`;

/** KEYS room members meta; ARGV user checkMember(0|1) key... -> {status, ver, count, meta...}; status 0 no room, 1 not member, 2 ok */
export const READ_FOR_WRITE = `
local ver = redis.call('HGET', KEYS[1], 'ver')
if not ver then return {0} end
if ARGV[2] == '1' and not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return {1} end
local out = {2, ver, redis.call('HLEN', KEYS[3])}
if #ARGV > 2 then
  local metas = redis.call('HMGET', KEYS[3], unpack(ARGV, 3))
  for i = 1, #metas do out[#out + 1] = metas[i] or '' end
end
return out`;

/** KEYS room attrs meta; ARGV event-block post attrs ver user auto n (key value bytes prevOwner)* -> 1 applied, 0 version moved */
export const APPLY_SET = `
${ROOM_BASE}
${EMIT}
local ev, a = readEv(ARGV, 1)
local post, attrs = ARGV[a], ARGV[a + 1]
a = a + 2
if redis.call('HGET', KEYS[1], 'ver') ~= ARGV[a] then return 0 end
local user, auto, n = ARGV[a + 1], ARGV[a + 2], tonumber(ARGV[a + 3])
for i = 0, n - 1 do
  local k, v, bytes, prev = ARGV[a + 4 + i * 4], ARGV[a + 5 + i * 4], ARGV[a + 6 + i * 4], ARGV[a + 7 + i * 4]
  redis.call('HSET', KEYS[2], k, v)
  redis.call('HSET', KEYS[3], k, user .. '|' .. auto .. '|' .. bytes)
  if prev ~= '' then redis.call('SREM', base .. ':auto:' .. prev, k) end
  if auto == '1' then redis.call('SADD', base .. ':auto:' .. user, k) end
end
redis.call('HINCRBY', KEYS[1], 'ver', 1)
emit(base, ev, post, attrs)
return 1`;

/** KEYS room attrs meta; ARGV event-block post ver n (key owner)* -> 1 applied, 0 version moved */
export const APPLY_DELETE = `
${ROOM_BASE}
${EMIT}
local ev, a = readEv(ARGV, 1)
local post = ARGV[a]
a = a + 1
if redis.call('HGET', KEYS[1], 'ver') ~= ARGV[a] then return 0 end
local n = tonumber(ARGV[a + 1])
local removed = {}
for i = 0, n - 1 do
  local k, owner = ARGV[a + 2 + i * 2], ARGV[a + 3 + i * 2]
  redis.call('HDEL', KEYS[2], k)
  redis.call('HDEL', KEYS[3], k)
  redis.call('SREM', base .. ':auto:' .. owner, k)
  removed[#removed + 1] = k
end
redis.call('HINCRBY', KEYS[1], 'ver', 1)
emit(base, ev, post, jsonKeys(removed))
return 1`;

/**
 * The rules of a set, planned inside the room's script: one round trip on a single Redis, where
 * the app's usage counter may sit beside the room in one script (on a cluster it is in another
 * slot, and a write reads with READ_FOR_WRITE, plans in JS and commits with APPLY_SET). The checks
 * and their order are planSet's (domain/attributes.ts); the checks that need no stored state ran
 * in JS before, and only the pairs that passed them come here.
 * KEYS room members attrs meta usage; ARGV event-block post user checkMember(0|1) forced(0|1)
 * auto(0|1) maxAttributes maxAppBytes n (key value bytes fragment)*, where fragment is the pair
 * as JSON ("key":"value") for the event's attributes -> {status, bytesDelta, code...}: status as
 * READ_FOR_WRITE; code per pair 0 set, 1 not yours, 2 room full, 3 app quota.
 */
export const SET_PLANNED = `
${ROOM_BASE}
${EMIT}
${SPLIT_META}
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
return out`;

/**
 * A delete planned inside the room's script, as SET_PLANNED is a set: planDelete's rules.
 * KEYS room members attrs meta usage; ARGV event-block post user checkMember(0|1) forced(0|1)
 * key... (de-duplicated) -> {status, bytesDelta, code...}: code per key 0 removed, 1 missing,
 * 2 not yours.
 */
export const DELETE_PLANNED = `
${ROOM_BASE}
${EMIT}
${SPLIT_META}
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
return out`;

/**
 * KEYS room members attrs; ARGV member('' = no check) key... -> {status, attributes as one JSON
 * object}; status as READ_FOR_WRITE. One string instead of a reply element per key and value:
 * the client parses one string (JSON.parse) instead of a RESP element each, a third of a get-all's
 * CPU in roomkv.
 */
export const READ_ATTRS = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
if ARGV[1] ~= '' and not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return {1} end
local out = {}
if #ARGV == 1 then
  local all = redis.call('HGETALL', KEYS[3])
  for i = 1, #all, 2 do out[all[i]] = all[i + 1] end
else
  local vals = redis.call('HMGET', KEYS[3], unpack(ARGV, 2))
  for i = 1, #vals do
    if vals[i] then out[ARGV[i + 1]] = vals[i] end
  end
end
if next(out) == nil then return {2, '{}'} end
return {2, cjson.encode(out)}`;

/** KEYS room members; ARGV name description owner maxusers created member... */
export const CREATE_ROOM = `
redis.call('HSET', KEYS[1], 'name', ARGV[1], 'description', ARGV[2], 'owner', ARGV[3], 'maxusers', ARGV[4], 'created', ARGV[5], 'ver', 1)
for i = 6, #ARGV do redis.call('ZADD', KEYS[2], 'NX', ARGV[5], ARGV[i]) end
return 1`;

/** KEYS room members; ARGV now user... -> {status, new...}; status 0 no room, -1 full (then maxusers), 1 ok */
export const ADD_MEMBERS = `
local maxusers = redis.call('HGET', KEYS[1], 'maxusers')
if not maxusers then return {0} end
local fresh = {}
for i = 2, #ARGV do
  if not redis.call('ZSCORE', KEYS[2], ARGV[i]) then fresh[#fresh + 1] = ARGV[i] end
end
if redis.call('ZCARD', KEYS[2]) + #fresh > tonumber(maxusers) then return {-1, maxusers} end
for i = 1, #fresh do redis.call('ZADD', KEYS[2], ARGV[1], fresh[i]) end
redis.call('HINCRBY', KEYS[1], 'ver', 1)
local out = {1}
for i = 1, #fresh do out[#out + 1] = fresh[i] end
return out`;

/**
 * KEYS room members attrs meta; ARGV event-block allowOwner(0|1) (user post)* -> {status, bytesFreed, (user result)*}
 * result: 'ok', 'owner' or 'absent'. A leaving member's DELETE keys go with it, in one event.
 */
export const REMOVE_MEMBERS = `
${ROOM_BASE}
${EMIT}
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
return out`;

/**
 * KEYS room members attrs meta; ARGV event-block post -> {0} no room, else {1, bytesFreed, member...}
 * The final event is written before the room goes; the log outlives it for minAge, for resumes.
 */
export const DESTROY_ROOM = `
${ROOM_BASE}
${EMIT}
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
local ev, a = readEv(ARGV, 1)
local freed = 0
local all = redis.call('HGETALL', KEYS[4])
local owners = {}
local keys = {}
for i = 1, #all, 2 do
  local owner, _, bytes = string.match(all[i + 1], '^(.*)|(.*)|(.*)$')
  freed = freed + tonumber(bytes)
  owners[owner] = true
  keys[#keys + 1] = all[i]
end
table.sort(keys)
emit(base, ev, ARGV[a], jsonKeys(keys))
for owner, _ in pairs(owners) do redis.call('DEL', base .. ':auto:' .. owner) end
local out = {1, freed}
for _, u in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do out[#out + 1] = u end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
redis.call('PEXPIRE', base .. ':log', math.max(ev.minAge, 1000))
return out`;

/** KEYS (userKey uuidKey)*; ARGV (username uuid passwordHash now)* -> 0 created, else the duplicate username */
export const CREATE_USERS = `
for i = 1, #KEYS, 2 do
  if redis.call('EXISTS', KEYS[i]) == 1 then return ARGV[(i - 1) * 2 + 1] end
end
for i = 1, #KEYS, 2 do
  local a = (i - 1) * 2
  redis.call('HSET', KEYS[i], 'uuid', ARGV[a + 2], 'password', ARGV[a + 3], 'created', ARGV[a + 4], 'modified', ARGV[a + 4])
  redis.call('SET', KEYS[i + 1], ARGV[a + 1])
end
return 0`;

/** KEYS room log; ARGV afterSeq limit -> {exists, lastSeq, firstSeq, (seq body)*} */
export const READ_EVENTS = `
local exists = redis.call('EXISTS', KEYS[1])
local last = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
local newest = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
if exists == 0 and #newest > 0 then last = tonumber(string.sub(newest[1][1], 3)) end
local oldest = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
local first = last + 1
if #oldest > 0 then first = tonumber(string.sub(oldest[1][1], 3)) end
local out = {exists, last, first}
for _, e in ipairs(redis.call('XRANGE', KEYS[2], '(0-' .. ARGV[1], '+', 'COUNT', ARGV[2])) do
  out[#out + 1] = string.sub(e[1], 3)
  out[#out + 1] = e[2][4]
end
return out`;

/** KEYS room attrs -> {} no room, else {seq, k1, v1, ...} */
export const SNAPSHOT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
local out = {redis.call('HGET', KEYS[1], 'seq') or '0'}
local all = redis.call('HGETALL', KEYS[2])
for i = 1, #all do out[#out + 1] = all[i] end
return out`;

/**
 * KEYS list state lease; ARGV now leaseMs token -> {0} empty, {1} not due, {2} leased elsewhere,
 * {3, head, attempts, firstAt}: claimed; the lease keeps other instances off this queue.
 */
export const OB_CLAIM = `
local head = redis.call('LINDEX', KEYS[1], 0)
if not head then return {0} end
local st = redis.call('HMGET', KEYS[2], 'attempts', 'nextAt', 'firstAt')
if st[2] and tonumber(st[2]) > tonumber(ARGV[1]) then return {1} end
if not redis.call('SET', KEYS[3], ARGV[3], 'NX', 'PX', ARGV[2]) then return {2} end
return {3, head, st[1] or '0', st[3] or ''}`;

/** KEYS list state lease; ARGV token seq -> remaining length, or -1 when the lease was lost */
export const OB_FINISH = `
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return -1 end
local head = redis.call('LINDEX', KEYS[1], 0)
if head and string.sub(head, 1, #ARGV[2] + 1) == ARGV[2] .. '|' then redis.call('LPOP', KEYS[1]) end
redis.call('DEL', KEYS[2], KEYS[3])
return redis.call('LLEN', KEYS[1])`;

/** KEYS list state lease; ARGV token attempts nextAt firstAt -> 1, or -1 when the lease was lost */
export const OB_RETRY = `
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return -1 end
redis.call('HSET', KEYS[2], 'attempts', ARGV[2], 'nextAt', ARGV[3])
redis.call('HSETNX', KEYS[2], 'firstAt', ARGV[4])
redis.call('DEL', KEYS[3])
return 1`;

// ---- export and import (DataTransfer)

/**
 * KEYS room members attrs meta -> {} no room, else {{name, description, owner, maxusers, created},
 * {member, joined}*, {key, value}*, {key, meta}*}: one room read at one instant.
 */
export const DUMP_ROOM = `
local room = redis.call('HMGET', KEYS[1], 'name', 'description', 'owner', 'maxusers', 'created')
if not room[3] then return {} end
return {room, redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES'), redis.call('HGETALL', KEYS[3]), redis.call('HGETALL', KEYS[4])}`;

/**
 * A room restored whole, or not at all: no event, no outbox entry (a restore is not a change).
 * KEYS room members attrs meta; ARGV name description owner maxusers created nMembers
 * (member joined)* (key value owner auto bytes)* -> 1 restored, 0 the room exists.
 * A log left by a destroyed room of the same id is kept and numbered on from (webhook receivers
 * drop duplicates by room and seq), and no longer expires.
 */
export const RESTORE_ROOM = `
${ROOM_BASE}
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local seq = 0
local newest = redis.call('XREVRANGE', base .. ':log', '+', '-', 'COUNT', 1)
if #newest > 0 then seq = tonumber(string.sub(newest[1][1], 3)) end
redis.call('HSET', KEYS[1], 'name', ARGV[1], 'description', ARGV[2], 'owner', ARGV[3], 'maxusers', ARGV[4], 'created', ARGV[5], 'ver', 1, 'seq', seq)
local a = 7
for i = 1, tonumber(ARGV[6]) do
  redis.call('ZADD', KEYS[2], ARGV[a + 1], ARGV[a])
  a = a + 2
end
while a <= #ARGV do
  local k, owner, auto = ARGV[a], ARGV[a + 2], ARGV[a + 3]
  redis.call('HSET', KEYS[3], k, ARGV[a + 1])
  redis.call('HSET', KEYS[4], k, owner .. '|' .. auto .. '|' .. ARGV[a + 4])
  if auto == '1' then redis.call('SADD', base .. ':auto:' .. owner, k) end
  a = a + 5
end
redis.call('PERSIST', base .. ':log')
return 1`;

/** KEYS (userKey uuidKey)*; ARGV (username uuid passwordHash created modified)* -> 0 restored, else a username or uuid taken */
export const RESTORE_USERS = `
for i = 1, #KEYS, 2 do
  if redis.call('EXISTS', KEYS[i]) == 1 or redis.call('EXISTS', KEYS[i + 1]) == 1 then return ARGV[(i - 1) / 2 * 5 + 1] end
end
for i = 1, #KEYS, 2 do
  local a = (i - 1) / 2 * 5
  redis.call('HSET', KEYS[i], 'uuid', ARGV[a + 2], 'password', ARGV[a + 3], 'created', ARGV[a + 4], 'modified', ARGV[a + 5])
  redis.call('SET', KEYS[i + 1], ARGV[a + 1])
end
return 0`;

/** KEYS counter; ARGV value: the counter becomes at least value (it never moves back) */
export const RAISE_COUNTER = `
if tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return 1`;
