-- An entry of the app's offline-leave index ("room" or "room|user" -> due ms) is settled: it goes,
-- unless it was written again since it was read (a newer offline of the member moved its time).
-- KEYS due; ARGV entry score -> 1 removed, 0 kept
--! keys 1
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if s and tonumber(s) == tonumber(ARGV[2]) then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 1
end
return 0
