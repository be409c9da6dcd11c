-- KEYS room log; ARGV afterSeq limit -> {exists, lastSeq, firstSeq, (seq body)*}
--! keys 2
local exists = redis.call('EXISTS', KEYS[1])
local last = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
local newest = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
if exists == 0 and #newest > 0 then last = tonumber(string.sub(newest[1][1], 3)) end
local oldest = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
local first = last + 1
if #oldest > 0 then first = tonumber(string.sub(oldest[1][1], 3)) end
local out = {exists, last, first}
for _, e in ipairs(redis.call('XRANGE', KEYS[2], '(0-' .. ARGV[1], '+', 'COUNT', ARGV[2])) do
  out[#out + 1] = string.sub(e[1], 3)
  out[#out + 1] = e[2][4]
end
return out
