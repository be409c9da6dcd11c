-- A meta entry "owner|auto|bytes" as owner and bytes.
local function splitMeta(meta)
  local bar = string.find(meta, '|', 1, true)
  return string.sub(meta, 1, bar - 1), tonumber(string.match(meta, '[^|]*$'))
end
