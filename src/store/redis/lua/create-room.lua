-- KEYS room members; ARGV name description owner maxusers created member... -> 1
-- `noexp` says the room has never held a key with an expiry: its writes skip the expiry index
-- (lib/plan-check.lua) until a set gives a key one (apply-set.lua drops the field).
--! keys 2
redis.call('HSET', KEYS[1], 'name', ARGV[1], 'description', ARGV[2], 'owner', ARGV[3], 'maxusers', ARGV[4], 'created', ARGV[5], 'noexp', '1')
for i = 6, #ARGV do redis.call('ZADD', KEYS[2], 'NX', ARGV[5], ARGV[i]) end
return 1
