-- An instance that holds nothing any more leaves the app's holder index: its lease is gone (it
-- died, or stopped) and every room it held was swept.
-- KEYS holders rooms lease; ARGV holder -> 1 forgotten, 0 kept
--! keys 3
if redis.call('EXISTS', KEYS[3]) == 1 or redis.call('SCARD', KEYS[2]) > 0 then return 0 end
redis.call('SREM', KEYS[1], ARGV[1])
return 1
