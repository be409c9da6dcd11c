-- How many live connections to a room one instance (holder) holds, per user, as it holds them now:
-- absolute counts, so a repeat changes nothing. A count may grow only for a member. The first
-- connection anywhere makes the user online (its offline-since goes: a pending leave is off), the
-- last one gone makes it offline from `now`; each change is announced on the room's feed.
-- KEYS room members pres on off; ARGV event-block presence-block holder now (user count)*
-- -> one answer per user: 1 not a member (nothing written), 2 online state unchanged, 3 online
-- now, 4 offline now.
--! keys 5
--! include emit
--! include presence
local ev, a = readEv(ARGV, 1)
local p, b = readPresence(ARGV, a)
local pk = { pres = KEYS[3], on = KEYS[4], off = KEYS[5] }
local holder, now = ARGV[b], ARGV[b + 1]
local room = redis.call('HGET', KEYS[1], 'owner')
local out = {}
for i = b + 2, #ARGV, 2 do
  local user, n = ARGV[i], tonumber(ARGV[i + 1])
  local field = user .. '|' .. holder
  local old = tonumber(redis.call('HGET', pk.pres, field) or '0')
  local answer = 2
  if n > old and not (room and redis.call('ZSCORE', KEYS[2], user)) then
    answer = 1
  elseif n ~= old then
    if n > 0 then redis.call('HSET', pk.pres, field, n) else redis.call('HDEL', pk.pres, field) end
    local before = tonumber(redis.call('HGET', pk.on, user) or '0')
    local after = before + n - old
    if after > 0 then
      redis.call('HSET', pk.on, user, after)
      if before <= 0 then
        redis.call('HDEL', pk.off, user)
        announce(ev, p, user, 'online')
        answer = 3
      end
    elseif before > 0 then
      wentOffline(ev, p, pk, KEYS[2], user, now)
      answer = 4
    else
      redis.call('HDEL', pk.on, user)
    end
  end
  out[#out + 1] = answer
end
return out
