-- Import (DataTransfer). A room restored whole, or not at all: no event, no outbox entry (a
-- restore is not a change).
-- KEYS room members attrs meta; ARGV name description owner maxusers created nMembers
-- (member joined)* (key value owner auto bytes revision expiresAt)* -> 1 restored, 0 the room exists.
-- expiresAt '' is none; a key with one goes into the room's expiry index (B:exp), its app-wide
-- index entry written before this script (redis-expiry.ts). The room's seq is at least each key's
-- revision, so its next write numbers past them.
-- A log left by a destroyed room of the same id is kept and numbered on from (webhook receivers
-- drop duplicates by room and seq), and no longer expires.
--! keys 4
--! include room-base
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local seq = 0
local newest = redis.call('XREVRANGE', base .. ':log', '+', '-', 'COUNT', 1)
if #newest > 0 then seq = tonumber(string.sub(newest[1][1], 3)) end
local a = 7
local anyExp = false
for i = 1, tonumber(ARGV[6]) do
  redis.call('ZADD', KEYS[2], ARGV[a + 1], ARGV[a])
  a = a + 2
end
while a <= #ARGV do
  local k, owner, auto, revision, exp = ARGV[a], ARGV[a + 2], ARGV[a + 3], ARGV[a + 5], ARGV[a + 6]
  redis.call('HSET', KEYS[3], k, ARGV[a + 1])
  redis.call('HSET', KEYS[4], k, owner .. '|' .. auto .. '|' .. ARGV[a + 4] .. '|' .. revision .. '|' .. exp)
  if auto == '1' then redis.call('SADD', base .. ':auto:' .. owner, k) end
  if exp ~= '' then
    redis.call('ZADD', base .. ':exp', exp, k)
    anyExp = true
  end
  if tonumber(revision) > seq then seq = tonumber(revision) end
  a = a + 7
end
redis.call('HSET', KEYS[1], 'name', ARGV[1], 'description', ARGV[2], 'owner', ARGV[3], 'maxusers', ARGV[4], 'created', ARGV[5], 'seq', seq)
-- as create-room.lua: a room restored without an expiry in it skips the expiry index on writes
if not anyExp then redis.call('HSET', KEYS[1], 'noexp', '1') end
redis.call('PERSIST', base .. ':log')
return 1
