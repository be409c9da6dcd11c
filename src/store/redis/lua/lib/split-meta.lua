-- A meta entry "owner|auto|bytes|revision" (entries written before revisions have three parts) as
-- owner and bytes.
local function splitMeta(meta)
  local owner, bytes = string.match(meta, '^([^|]*)|[^|]*|([^|]*)')
  return owner, tonumber(bytes)
end
