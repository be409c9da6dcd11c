-- KEYS room members; ARGV name description owner maxusers created member... -> 1
--! keys 2
redis.call('HSET', KEYS[1], 'name', ARGV[1], 'description', ARGV[2], 'owner', ARGV[3], 'maxusers', ARGV[4], 'created', ARGV[5])
for i = 6, #ARGV do redis.call('ZADD', KEYS[2], 'NX', ARGV[5], ARGV[i]) end
return 1
