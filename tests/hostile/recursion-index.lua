-- Recursion through an __index function (Go frames between Lua frames).
-- want: packet-error overflow
local n = 0

return {
  name = "recursionindex", l4 = "tcp", ports = {2121}, default_verdict = "drop",
  policies = {{name = "data", max_expected = 1, timeout = 60}},
  on_packet = function(pkt, conn)
    n = n + 1
    if n > 1 then return "accept" end
    local t = setmetatable({}, {__index = function(t, k) return t[k] end})
    local _ = t.x
  end,
}
