-- A top level that never ends.
-- want: load-error load budget
local n = 0
while true do end
return {
  name = "chunkforever", l4 = "tcp", ports = {2121}, default_verdict = "drop",
  policies = {{name = "data", max_expected = 1, timeout = 60}},
  on_packet = function(pkt, conn)
    n = n + 1
    if n > 1 then return "accept" end

  end,
}
