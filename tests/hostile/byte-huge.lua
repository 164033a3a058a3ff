-- string.byte asked for a million values.
-- want: packet-error string.byte
local n = 0

return {
  name = "bytehuge", l4 = "tcp", ports = {2121}, default_verdict = "drop",
  policies = {{name = "data", max_expected = 1, timeout = 60}},
  on_packet = function(pkt, conn)
    n = n + 1
    if n > 1 then return "accept" end
    string.byte(string.rep('a', 1000000), 1, 1e6)
  end,
}
