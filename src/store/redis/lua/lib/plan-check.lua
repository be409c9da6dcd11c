-- The preconditions of a plan made in JS (domain/attributes.ts Preconditions), as a block of ARGV
-- from index i: user checkMember(0|1) countMin countMax usageMin usageMax n (key meta)*n, where a
-- bound '' is open and meta is the key's B:meta entry the plan was made from ('' = absent).
-- KEYS[1] B:room, KEYS[2] B:members, KEYS[4] B:meta; KEYS[5] the app's usage counter when it is in
-- the script's slot (a single Redis; on a cluster the usage bounds are not checked here). `now`
-- (ms, the caller's clock) is when the plan was made: a room holding a key due by then is swept
-- first (EXPIRE_ROOM, with its events), so that no plan is applied over an expired key.
-- checkPlan -> status, index after the block: 0 no room, 1 not a member, 2 the plan holds, 3 it
-- does not (then staleReply gives what to plan again from), 4 the room holds a due key.
-- The meta entry of each key checked, by key: what planned() reads.
local planMetas = {}
local function outside(v, lo, hi)
  return (lo ~= '' and v < tonumber(lo)) or (hi ~= '' and v > tonumber(hi))
end
local function checkPlan(argv, i, now)
  local n = tonumber(argv[i + 6])
  local after = i + 7 + 2 * n
  local room = redis.call('HMGET', KEYS[1], 'owner', 'noexp')
  if not room[1] then return 0, after end
  if argv[i + 1] == '1' and not redis.call('ZSCORE', KEYS[2], argv[i]) then return 1, after end
  -- A room that has never held a key with an expiry (create-room.lua's `noexp`) has none due.
  if not room[2] and redis.call('ZRANGEBYSCORE', base .. ':exp', '-inf', now, 'LIMIT', 0, 1)[1] then return 4, after end
  if (argv[i + 2] ~= '' or argv[i + 3] ~= '') and outside(redis.call('HLEN', KEYS[4]), argv[i + 2], argv[i + 3]) then
    return 3, after
  end
  if #KEYS >= 5 and (argv[i + 4] ~= '' or argv[i + 5] ~= '') then
    if outside(tonumber(redis.call('GET', KEYS[5]) or '0'), argv[i + 4], argv[i + 5]) then return 3, after end
  end
  for j = 0, n - 1 do
    local k, meta = argv[i + 7 + 2 * j], argv[i + 8 + 2 * j]
    if (redis.call('HGET', KEYS[4], k) or '') ~= meta then return 3, after end
    planMetas[k] = meta
  end
  return 2, after
end
-- What a key held before, from the meta entry the plan was checked against: owner, auto ('1' or
-- '0') and whether it had an expiry (so an index entry to remove). nil when the plan did not read
-- the key or the entry has another shape: the caller then does every removal, as if unsure.
local function planned(k)
  local meta = planMetas[k]
  if not meta or meta == '' then return nil end
  local owner, auto, exp = string.match(meta, '^([^|]*)|([01])|[^|]*|[^|]*|([^|]*)$')
  if not owner then return nil end
  return owner, auto, exp ~= ''
end
-- {3, key count, usage ('' when not in this slot), the meta entry of each key of the block ('' absent)}
local function staleReply(argv, i)
  local n = tonumber(argv[i + 6])
  local out = { 3, redis.call('HLEN', KEYS[4]), '' }
  if #KEYS >= 5 then out[3] = redis.call('GET', KEYS[5]) or '0' end
  for j = 0, n - 1 do out[#out + 1] = redis.call('HGET', KEYS[4], argv[i + 7 + 2 * j]) or '' end
  return out
end
