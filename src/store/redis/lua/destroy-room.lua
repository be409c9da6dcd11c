-- KEYS room members attrs meta; ARGV event-block post -> {0} no room, else {1, bytesFreed, member...}
-- The final event is written before the room goes; the log outlives it for minAge, for resumes.
-- Its previous lists every key the room held, with its value and owner.
--! keys 4
--! include room-base
--! include emit
--! include split-meta
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
local ev, a = readEv(ARGV, 1)
local freed = 0
local all = redis.call('HGETALL', KEYS[4])
local owners = {}
local keys = {}
local ownerOf = {}
for i = 1, #all, 2 do
  local owner, bytes = splitMeta(all[i + 1])
  freed = freed + tonumber(bytes)
  owners[owner] = true
  ownerOf[all[i]] = owner
  keys[#keys + 1] = all[i]
end
table.sort(keys)
local prevs = {}
for _, k in ipairs(keys) do prevs[#prevs + 1] = prevEntry(k, redis.call('HGET', KEYS[3], k), ownerOf[k]) end
emit(base, ev, ARGV[a], jsonKeys(keys), jsonObject(prevs))
for owner, _ in pairs(owners) do redis.call('DEL', base .. ':auto:' .. owner) end
local out = {1, freed}
for _, u in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do out[#out + 1] = u end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], base .. ':exp')
-- its presence (lib/presence.lua): the streams end with the final event, no one is online in it
redis.call('DEL', base .. ':pres', base .. ':on', base .. ':off')
redis.call('PEXPIRE', base .. ':log', math.max(ev.minAge, 1000))
return out
