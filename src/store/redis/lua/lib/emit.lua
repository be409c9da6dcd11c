-- The event half of a write script. ARGV starts with an event block:
--   ts pre mid channel minEvents minAgeMs nEndpoints endpoint... [index roomId]
-- where, when there are endpoints, index is the prefix of the endpoints' outbox index sets (the
-- room joins each as its event is queued) or '' (on a cluster: they are in the app's slot, and the
-- caller adds the room after the script).
-- readEv(ARGV, 1) reads it and returns it and the index of the first ARGV after it.
-- emit() draws the room's next seq and writes the body
-- pre..seq..mid..seq..post..attrs..',"previous":'..previous..'}' (domain/events.ts):
-- log entry, outbox entries and SPUBLISH (publishLive), in the script that made the change. A script that needs
-- the seq before it writes (a key's revision is its event's seq) draws it with nextSeq and emits
-- with emitAt. `previous` is a JSON object of prevEntry()s, one per key the event touched.
local function readEv(argv, i)
  local ev = { ts = argv[i], pre = argv[i + 1], mid = argv[i + 2], channel = argv[i + 3],
    minEvents = tonumber(argv[i + 4]), minAge = tonumber(argv[i + 5]), endpoints = {} }
  local n = tonumber(argv[i + 6])
  for j = 1, n do ev.endpoints[j] = argv[i + 6 + j] end
  if n == 0 then return ev, i + 7 end
  ev.index, ev.room = argv[i + 7 + n], argv[i + 8 + n]
  return ev, i + 9 + n
end
local function jsonKeys(keys)
  if #keys == 0 then return '[]' end
  return '["' .. table.concat(keys, '","') .. '"]'
end
-- A key of an event's previous map as it was: its value and owner, or null (value nil: it did not
-- exist). Keys and usernames need no escaping (their characters are a-z A-Z 0-9 _ - .); values do.
local function prevEntry(k, value, owner)
  if not value then return '"' .. k .. '":null' end
  return '"' .. k .. '":{"value":' .. cjson.encode(value) .. ',"owner":"' .. owner .. '"}'
end
local function jsonObject(entries)
  return '{' .. table.concat(entries, ',') .. '}'
end
-- The live feed's message for a room: every publish of a script goes through here.
local function publishLive(ev, message)
  -- Sharded pub/sub: the channel is in the room's slot, so on a cluster the message stays on the
  -- room's shard instead of crossing the cluster bus to every node.
  redis.call('SPUBLISH', ev.channel, message)
end
local function nextSeq(base)
  return redis.call('HINCRBY', base .. ':room', 'seq', 1)
end
local function emitAt(base, ev, seq, post, attrs, previous)
  local body = ev.pre .. seq .. ev.mid .. seq .. post .. attrs .. ',"previous":' .. previous .. '}'
  local logKey = base .. ':log'
  redis.call('XADD', logKey, '0-' .. seq, 't', ev.ts, 'b', body)
  for _, ep in ipairs(ev.endpoints) do
    redis.call('RPUSH', base .. ':ob:' .. ep, seq .. '|' .. body)
    if ev.index ~= '' then redis.call('SADD', ev.index .. ep, ev.room) end
  end
  publishLive(ev, seq .. '|' .. body)
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
end
local function emit(base, ev, post, attrs, previous)
  return emitAt(base, ev, nextSeq(base), post, attrs, previous)
end
