-- Change the string metatable (shared by every helper in gopher-lua).
-- want: isolated
local n = 0

return {
  name = "metatablestring", l4 = "tcp", ports = {2121}, default_verdict = "drop",
  policies = {{name = "data", max_expected = 1, timeout = 60}},
  on_packet = function(pkt, conn)
    n = n + 1
    if n > 1 then return "accept" end
    getmetatable('').__index = {upper = function() return 'pwned' end}
  end,
}
