-- Import (DataTransfer). KEYS (userKey uuidKey)*; ARGV (username uuid passwordHash created modified)*
-- -> 0 restored, else a username or uuid taken. The number of keys varies: the caller passes it first.
--! keys *
for i = 1, #KEYS, 2 do
  if redis.call('EXISTS', KEYS[i]) == 1 or redis.call('EXISTS', KEYS[i + 1]) == 1 then return ARGV[(i - 1) / 2 * 5 + 1] end
end
for i = 1, #KEYS, 2 do
  local a = (i - 1) / 2 * 5
  redis.call('HSET', KEYS[i], 'uuid', ARGV[a + 2], 'password', ARGV[a + 3], 'created', ARGV[a + 4], 'modified', ARGV[a + 5])
  redis.call('SET', KEYS[i + 1], ARGV[a + 1])
end
return 0
