-- A top level that runs past the load budget (ten times the callback
-- budget, at least 1 s): it is refused at check and load, never on packets.
-- want: load-error load budget
local n = 0
for i = 1, 1e9 do end
return {
  name = "chunkslow", l4 = "tcp", ports = {2121}, default_verdict = "drop",
  policies = {{name = "data", max_expected = 1, timeout = 60}},
  on_packet = function(pkt, conn)
    n = n + 1
    if n > 1 then return "accept" end

  end,
}
