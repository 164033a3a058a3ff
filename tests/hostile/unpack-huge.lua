-- unpack asked for 10^8 values.
-- want: packet-error unpack
local n = 0

return {
  name = "unpackhuge", l4 = "tcp", ports = {2121}, default_verdict = "drop",
  policies = {{name = "data", max_expected = 1, timeout = 60}},
  on_packet = function(pkt, conn)
    n = n + 1
    if n > 1 then return "accept" end
    unpack({}, 1, 1e8)
  end,
}
