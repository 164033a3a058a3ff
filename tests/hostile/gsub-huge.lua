-- gsub whose result doubles a megabyte.
-- want: packet-error string.gsub
local n = 0

return {
  name = "gsubhuge", l4 = "tcp", ports = {2121}, default_verdict = "drop",
  policies = {{name = "data", max_expected = 1, timeout = 60}},
  on_packet = function(pkt, conn)
    n = n + 1
    if n > 1 then return "accept" end
    string.gsub(string.rep('a', 2^20), 'a', 'aa')
  end,
}
