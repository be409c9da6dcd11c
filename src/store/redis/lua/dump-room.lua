-- Export (DataTransfer). KEYS room members attrs meta -> {} no room, else
-- {{name, description, owner, maxusers, created}, {member, joined}*, {key, value}*, {key, meta}*}:
-- one room read at one instant.
--! keys 4
local room = redis.call('HMGET', KEYS[1], 'name', 'description', 'owner', 'maxusers', 'created')
if not room[3] then return {} end
return {room, redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES'), redis.call('HGETALL', KEYS[3]), redis.call('HGETALL', KEYS[4])}
