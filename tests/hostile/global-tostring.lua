-- Replace a global function through _G.
-- want: isolated
local n = 0

return {
  name = "globaltostring", l4 = "tcp", ports = {2121}, default_verdict = "drop",
  policies = {{name = "data", max_expected = 1, timeout = 60}},
  on_packet = function(pkt, conn)
    n = n + 1
    if n > 1 then return "accept" end
    _G.tostring = function() return 'pwned' end
    tostring = _G.tostring
  end,
}
