-- Backtracking pattern through the string metatable (s:match).
-- want: packet-error pattern
local n = 0

return {
  name = "patternmatchmet", l4 = "tcp", ports = {2121}, default_verdict = "drop",
  policies = {{name = "data", max_expected = 1, timeout = 60}},
  on_packet = function(pkt, conn)
    n = n + 1
    if n > 1 then return "accept" end
    local s = string.rep('a', 5000); s:match(string.rep('a*', 20) .. 'b')
  end,
}
