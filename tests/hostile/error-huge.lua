-- An error message of ten megabytes is cut.
-- want: packet-error bytes more
local n = 0

return {
  name = "errorhuge", l4 = "tcp", ports = {2121}, default_verdict = "drop",
  policies = {{name = "data", max_expected = 1, timeout = 60}},
  on_packet = function(pkt, conn)
    n = n + 1
    if n > 1 then return "accept" end
    error(string.rep('x', 1000000) .. string.rep('y', 1000000))
  end,
}
