-- table.concat of a hundred megabytes.
-- want: packet-error table.concat
local n = 0

return {
  name = "concathuge", l4 = "tcp", ports = {2121}, default_verdict = "drop",
  policies = {{name = "data", max_expected = 1, timeout = 60}},
  on_packet = function(pkt, conn)
    n = n + 1
    if n > 1 then return "accept" end
    local big, t = string.rep('x', 2^20), {}
    for i = 1, 100 do t[i] = big end
    table.concat(t)
  end,
}
