-- Replace a math function through a local alias.
-- want: isolated
local n = 0

return {
  name = "mathfloor", l4 = "tcp", ports = {2121}, default_verdict = "drop",
  policies = {{name = "data", max_expected = 1, timeout = 60}},
  on_packet = function(pkt, conn)
    n = n + 1
    if n > 1 then return "accept" end
    local m = math; m.floor = function() return 'pwned' end
  end,
}
