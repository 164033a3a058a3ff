-- mdns: let in the answers to a multicast DNS query.
--
-- Like conntrackd's ct_helper_mdns: a query (UDP 5353, usually to
-- 224.0.0.251 or ff02::fb) is answered by any host of the link, by
-- unicast, from port 5353 to the querier's address and port (a query
-- with the QU bit, or a legacy unicast query from another port). Those
-- answers are not replies of the query's connection (whose destination
-- was the multicast group), so the helper expects them: any source
-- address, source port = the query's destination port, destination =
-- the querier and its port. See README.md.

local expect = require("ctlua.expect")
local log    = require("ctlua.log")

local function on_packet(pkt, conn)
  -- conntrackd expects on the reply direction too (see README: Limits).
  if pkt:dir() ~= "original" then return end
  -- The reply tuple from any source address: permanent, every answer.
  local ok, err = expect.answers()
  if not ok then log.warn("cannot expect the answers", { error = err }) end
end

return {
  name = "mdns",
  l3 = "both",
  l4 = "udp",
  ports = { 5353 },
  policies = { { name = "mdns", max_expected = 8, timeout = 30 } },
  payload_only = true,
  on_packet = on_packet,
}
