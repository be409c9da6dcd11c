-- For scripts that work on a room: KEYS[1] is B:room, so B is KEYS[1] without ':room'.
local base = string.sub(KEYS[1], 1, -6)
