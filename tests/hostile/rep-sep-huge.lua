-- string.rep with a separator, past the bound.
-- want: packet-error string.rep
local n = 0

return {
  name = "repsephuge", l4 = "tcp", ports = {2121}, default_verdict = "drop",
  policies = {{name = "data", max_expected = 1, timeout = 60}},
  on_packet = function(pkt, conn)
    n = n + 1
    if n > 1 then return "accept" end
    string.rep('', 2^30, 'xy')
  end,
}
