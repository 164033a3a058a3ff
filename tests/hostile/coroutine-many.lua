-- Thousands of coroutines, each with its own Lua stack.
-- want: packet-error timeout
local n = 0

return {
  name = "coroutinemany", l4 = "tcp", ports = {2121}, default_verdict = "drop",
  policies = {{name = "data", max_expected = 1, timeout = 60}},
  on_packet = function(pkt, conn)
    n = n + 1
    if n > 1 then return "accept" end
    local t = {}
    while true do t[#t + 1] = coroutine.create(function() end) end
  end,
}
