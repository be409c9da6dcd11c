-- KEYS list state lease; ARGV token attempts nextAt firstAt -> 1, or -1 when the lease was lost
--! keys 3
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return -1 end
redis.call('HSET', KEYS[2], 'attempts', ARGV[2], 'nextAt', ARGV[3])
redis.call('HSETNX', KEYS[2], 'firstAt', ARGV[4])
redis.call('DEL', KEYS[3])
return 1
