-- The benchmark's wrk script (bench/load.ts runs it when wrk is installed): sends the requests of
-- a file (raw HTTP requests, each ending in a NUL byte) in turn from a given index, counts the
-- answers that stored a key and those with per-key errors, keeps one sample of each kind of
-- failure, and prints one line, WRK_RESULT {json}, at the end.
--
--   wrk -t1 -c32 -d5s -s bench/wrk.lua http://127.0.0.1:PORT -- <requests file> <start index>

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

local reqs = {}
local idx = 0
ack = 0
perkey = 0
non200 = 0
sample_non2xx = ""
sample_perkey = ""

function init(args)
  local f = assert(io.open(args[1], "rb"))
  local data = f:read("*a")
  f:close()
  local pos = 1
  while true do
    local e = string.find(data, "\0", pos, true)
    if not e then break end
    reqs[#reqs + 1] = string.sub(data, pos, e - 1)
    pos = e + 1
  end
  idx = tonumber(args[2]) or 0
end

function request()
  local r = reqs[(idx % #reqs) + 1]
  idx = idx + 1
  return r
end

function response(status, headers, body)
  if status == 200 then
    if string.find(body, '"successKeys":[', 1, true) and not string.find(body, '"successKeys":[]', 1, true) then
      ack = ack + 1
    end
    if string.find(body, '"errorKeys":', 1, true) and not string.find(body, '"errorKeys":{}', 1, true) then
      perkey = perkey + 1
      if sample_perkey == "" then sample_perkey = string.sub(body, 1, 300) end
    end
  else
    non200 = non200 + 1
    if sample_non2xx == "" then sample_non2xx = status .. " " .. string.sub(body, 1, 300) end
  end
end

local function json_string(s)
  return '"' .. string.gsub(s, '[%c"\\]', function(c) return string.format("\\u%04x", string.byte(c)) end) .. '"'
end

function done(summary, latency, requests)
  local a, p, n, s1, s2 = 0, 0, 0, "", ""
  for _, t in ipairs(threads) do
    a = a + t:get("ack")
    p = p + t:get("perkey")
    n = n + t:get("non200")
    if s1 == "" then s1 = t:get("sample_non2xx") end
    if s2 == "" then s2 = t:get("sample_perkey") end
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests":%d,"durationUs":%d,"p50Us":%d,"p99Us":%d,"errors":%d,"timeouts":%d,"non2xx":%d,"acknowledged":%d,"perKey":%d,"sampleNon2xx":%s,"samplePerKey":%s}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write, e.timeout, n, a, p, json_string(s1), json_string(s2)))
end
