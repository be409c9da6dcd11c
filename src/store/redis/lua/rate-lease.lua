-- The shared rate limit's lease (http/rate-limit.ts): grants up to ARGV[1] points of the window's
-- ARGV[2], never more than the window has left. The window is fixed: it starts with its first
-- grant and lasts ARGV[3] ms.
-- KEYS counter; ARGV want points windowMs -> {grant, the window's remaining ms}
--! keys 1
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local grant = math.min(tonumber(ARGV[1]), tonumber(ARGV[2]) - used)
if grant > 0 then
  if redis.call('INCRBY', KEYS[1], grant) == grant then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
else
  grant = 0
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  ttl = tonumber(ARGV[3])
end
return {grant, ttl}
