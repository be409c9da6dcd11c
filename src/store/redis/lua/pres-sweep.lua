-- The connections one instance held in a room go (its lease lapsed, or it stops): the users left
-- with none anywhere are offline from `now`. Idempotent: a second sweep finds nothing of it.
-- KEYS room members pres on off; ARGV event-block presence-block holder now -> {user...} offline now
--! keys 5
--! include emit
--! include presence
local ev, a = readEv(ARGV, 1)
local p, b = readPresence(ARGV, a)
local pk = { pres = KEYS[3], on = KEYS[4], off = KEYS[5] }
local suffix, now = '|' .. ARGV[b], ARGV[b + 1]
local out = {}
local all = redis.call('HGETALL', pk.pres)
for i = 1, #all, 2 do
  local f = all[i]
  if #f > #suffix and string.sub(f, -#suffix) == suffix then
    local user = string.sub(f, 1, #f - #suffix)
    redis.call('HDEL', pk.pres, f)
    if redis.call('HINCRBY', pk.on, user, -tonumber(all[i + 1])) <= 0 then
      wentOffline(ev, p, pk, KEYS[2], user, now)
      out[#out + 1] = user
    end
  end
end
return out
