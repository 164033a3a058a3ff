-- Recursion through __tostring and tostring.
-- want: packet-error overflow
local n = 0

return {
  name = "recursiontostri", l4 = "tcp", ports = {2121}, default_verdict = "drop",
  policies = {{name = "data", max_expected = 1, timeout = 60}},
  on_packet = function(pkt, conn)
    n = n + 1
    if n > 1 then return "accept" end
    local t = {}
    setmetatable(t, {__tostring = function(x) return tostring(x) end})
    tostring(t)
  end,
}
