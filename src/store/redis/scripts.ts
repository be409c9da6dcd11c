/**
 * Lua scripts of the Redis store. Each touches only keys of one room (one hash tag, so one slot on
 * a cluster) or of one app. They carry no rules: the rules are planned in JS by domain/ over a
 * snapshot read with READ_FOR_WRITE, and APPLY_* commit the plan only if the room's version is
 * still the one that snapshot saw (compare-and-set). Every change to a room bumps its version.
 *
 * Room keys, with B = prefix .. '{app:room}':
 *   B:room     HASH  name description owner maxusers created ver
 *   B:members  ZSET  username -> joined ms
 *   B:attrs    HASH  key -> value
 *   B:meta     HASH  key -> "owner|auto|bytes"   (auto 1 = DELETE)
 *   B:auto:<u> SET   keys owned by u with autoDelete DELETE: a member leaving costs O(its keys)
 */

/** Shared by scripts that work on a room: KEYS[1] is B:room. */
const ROOM_BASE = `local base = string.sub(KEYS[1], 1, -6)`;

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

/** KEYS room attrs meta; ARGV ver user auto n (key value bytes prevOwner)* -> 1 applied, 0 version moved */
export const APPLY_SET = `
${ROOM_BASE}
if redis.call('HGET', KEYS[1], 'ver') ~= ARGV[1] then return 0 end
local user, auto, n = ARGV[2], ARGV[3], tonumber(ARGV[4])
for i = 0, n - 1 do
  local k, v, bytes, prev = ARGV[5 + i * 4], ARGV[6 + i * 4], ARGV[7 + i * 4], ARGV[8 + i * 4]
  redis.call('HSET', KEYS[2], k, v)
  redis.call('HSET', KEYS[3], k, user .. '|' .. auto .. '|' .. bytes)
  if prev ~= '' then redis.call('SREM', base .. ':auto:' .. prev, k) end
  if auto == '1' then redis.call('SADD', base .. ':auto:' .. user, k) end
end
redis.call('HINCRBY', KEYS[1], 'ver', 1)
return 1`;

/** KEYS room attrs meta; ARGV ver n (key owner)* -> 1 applied, 0 version moved */
export const APPLY_DELETE = `
${ROOM_BASE}
if redis.call('HGET', KEYS[1], 'ver') ~= ARGV[1] then return 0 end
local n = tonumber(ARGV[2])
for i = 0, n - 1 do
  local k, owner = ARGV[3 + i * 2], ARGV[4 + i * 2]
  redis.call('HDEL', KEYS[2], k)
  redis.call('HDEL', KEYS[3], k)
  redis.call('SREM', base .. ':auto:' .. owner, k)
end
redis.call('HINCRBY', KEYS[1], 'ver', 1)
return 1`;

/** KEYS room members attrs; ARGV member('' = no check) key... -> {status, k1, v1, ...}; status as READ_FOR_WRITE */
export const READ_ATTRS = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
if ARGV[1] ~= '' and not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return {1} end
local out = {2}
if #ARGV == 1 then
  local all = redis.call('HGETALL', KEYS[3])
  for i = 1, #all do out[#out + 1] = all[i] end
else
  local vals = redis.call('HMGET', KEYS[3], unpack(ARGV, 2))
  for i = 1, #vals do
    if vals[i] then out[#out + 1] = ARGV[i + 1]; out[#out + 1] = vals[i] end
  end
end
return out`;

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
 * KEYS room members attrs meta; ARGV allowOwner(0|1) user... -> {status, bytesFreed, (user result)*}
 * result: 'ok', 'owner' or 'absent'. A leaving member's DELETE keys go with it.
 */
export const REMOVE_MEMBERS = `
${ROOM_BASE}
local owner = redis.call('HGET', KEYS[1], 'owner')
if not owner then return {0} end
local freed = 0
local out = {1, 0}
for i = 2, #ARGV do
  local u = ARGV[i]
  if u == owner and ARGV[1] ~= '1' then
    out[#out + 1] = u; out[#out + 1] = 'owner'
  elseif not redis.call('ZSCORE', KEYS[2], u) then
    out[#out + 1] = u; out[#out + 1] = 'absent'
  else
    local autoKey = base .. ':auto:' .. u
    local keys = redis.call('SMEMBERS', autoKey)
    for _, k in ipairs(keys) do
      local meta = redis.call('HGET', KEYS[4], k)
      if meta then freed = freed + tonumber(string.match(meta, '([^|]*)$')) end
      redis.call('HDEL', KEYS[3], k)
      redis.call('HDEL', KEYS[4], k)
    end
    redis.call('DEL', autoKey)
    redis.call('ZREM', KEYS[2], u)
    out[#out + 1] = u; out[#out + 1] = 'ok'
  end
end
redis.call('HINCRBY', KEYS[1], 'ver', 1)
out[2] = freed
return out`;

/** KEYS room members attrs meta; -> {0} no room, else {1, bytesFreed, member...} */
export const DESTROY_ROOM = `
${ROOM_BASE}
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
local freed = 0
local metas = redis.call('HVALS', KEYS[4])
local owners = {}
for _, m in ipairs(metas) do
  local owner, _, bytes = string.match(m, '^(.*)|(.*)|(.*)$')
  freed = freed + tonumber(bytes)
  owners[owner] = true
end
for owner, _ in pairs(owners) do redis.call('DEL', base .. ':auto:' .. owner) end
local out = {1, freed}
for _, u in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do out[#out + 1] = u end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
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
