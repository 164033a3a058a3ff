-- Backtracking pattern: exponential in gopher-lua's matcher, which does not check the budget.
-- want: packet-error pattern
local n = 0

return {
  name = "patternbacktrac", l4 = "tcp", ports = {2121}, default_verdict = "drop",
  policies = {{name = "data", max_expected = 1, timeout = 60}},
  on_packet = function(pkt, conn)
    n = n + 1
    if n > 1 then return "accept" end
    string.find(string.rep('a', 5000), string.rep('.-', 20) .. 'b')
  end,
}
