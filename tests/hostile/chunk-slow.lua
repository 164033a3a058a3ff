-- A top level that takes longer than the budget (passes a 10x check otherwise).
-- want: load-error time budget
local n = 0
for i = 1, 3e7 do end
return {
  name = "chunkslow", l4 = "tcp", ports = {2121}, default_verdict = "drop",
  policies = {{name = "data", max_expected = 1, timeout = 60}},
  on_packet = function(pkt, conn)
    n = n + 1
    if n > 1 then return "accept" end

  end,
}
