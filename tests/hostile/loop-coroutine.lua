-- An endless loop in a coroutine.
-- want: packet-error timeout
local n = 0

return {
  name = "loopcoroutine", l4 = "tcp", ports = {2121}, default_verdict = "drop",
  policies = {{name = "data", max_expected = 1, timeout = 60}},
  on_packet = function(pkt, conn)
    n = n + 1
    if n > 1 then return "accept" end
    coroutine.wrap(function() while true do end end)()
  end,
}
