-- Per-connection state growing without bound.
-- want: packet-error connection state is over
local n = 0

return {
  name = "statehuge", l4 = "tcp", ports = {2121}, default_verdict = "drop",
  policies = {{name = "data", max_expected = 1, timeout = 60}},
  on_packet = function(pkt, conn)
    n = n + 1
    if n > 1 then return "accept" end
    local st = conn:state()
    for i = 1, 3000 do st[i] = i end
  end,
}
