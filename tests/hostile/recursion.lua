-- Unbounded recursion.
-- want: packet-error stack overflow
local n = 0

return {
  name = "recursion", l4 = "tcp", ports = {2121}, default_verdict = "drop",
  policies = {{name = "data", max_expected = 1, timeout = 60}},
  on_packet = function(pkt, conn)
    n = n + 1
    if n > 1 then return "accept" end
    local function f() return 1 + f() end
    f()
  end,
}
