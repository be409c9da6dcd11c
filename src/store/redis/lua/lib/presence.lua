-- The presence half of a room script (store/types.ts PresenceStore). ARGV holds a presence block
-- after the event block: head online offline, the room's presence message around the username
-- (domain/events.ts presenceTemplate); readPresence(ARGV, i) reads it and returns it and the
-- index after it. A script's presence keys, pk: pres (HASH "user|holder" -> the live connections
-- that instance holds), on (HASH user -> its connections on every instance: online while > 0),
-- off (HASH user -> since when the user, a member, has had none). Uses publishLive (emit).
local function readPresence(argv, i)
  return { head = argv[i], online = argv[i + 1], offline = argv[i + 2] }, i + 3
end
-- seq -1 on the room's feed: a presence message, no event (domain/events.ts PRESENCE_SEQ)
local function announce(ev, p, user, status)
  publishLive(ev, '-1|' .. p.head .. user .. p[status])
end
-- The user has no connection left anywhere: offline now and, a member, its leave's clock starts.
local function wentOffline(ev, p, pk, members, user, now)
  redis.call('HDEL', pk.on, user)
  if redis.call('ZSCORE', members, user) then redis.call('HSET', pk.off, user, now) end
  announce(ev, p, user, 'offline')
end
-- A member leaves the room: its presence goes with it, and if it was online it is offline now.
local function forgetPresence(ev, p, pk, user)
  redis.call('HDEL', pk.off, user)
  if not redis.call('HGET', pk.on, user) then return end
  local prefix = user .. '|'
  for _, f in ipairs(redis.call('HKEYS', pk.pres)) do
    if string.sub(f, 1, #prefix) == prefix then redis.call('HDEL', pk.pres, f) end
  end
  redis.call('HDEL', pk.on, user)
  announce(ev, p, user, 'offline')
end
