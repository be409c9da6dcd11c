-- KEYS counter; ARGV value -> 1: the counter becomes at least value (it never moves back).
--! keys 1
if tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
