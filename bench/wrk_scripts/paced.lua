-- requests.lua with a pause of SPEC.pace_ms between a connection's requests (an open-ish
-- probe: one connection, at most one request per pace_ms, so the probe does not saturate the
-- server it measures). wrk only calls delay() when the script defines it, hence two files.
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(here .. "requests.lua")

function delay()
  return pace_ms
end
