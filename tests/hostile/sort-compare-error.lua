-- table.sort with a comparator that loops.
-- want: packet-error timeout
local n = 0

return {
  name = "sortcompareerro", l4 = "tcp", ports = {2121}, default_verdict = "drop",
  policies = {{name = "data", max_expected = 1, timeout = 60}},
  on_packet = function(pkt, conn)
    n = n + 1
    if n > 1 then return "accept" end
    local t = {}
    for i = 1, 100 do t[i] = i end
    table.sort(t, function(a, b) while true do end end)
  end,
}
