-- slp: let in the answers to a multicast SLP request.
--
-- Like conntrackd's ct_helper_slp: a Service Location Protocol request
-- (SrvRqst, AttrRqst, SrvTypeRqst; UDP 427, usually to 239.255.255.253,
-- ff0X::116 or a broadcast address) is answered by every service agent
-- or directory agent that knows the service, by unicast, from port 427
-- to the requester's address and port. Those answers are not replies of
-- the request's connection (whose destination was the group), so the
-- helper expects them: any source address, source port = the request's
-- destination port, destination = the requester and its port. The
-- requester retransmits for up to CONFIG_MC_MAX (15 s), hence the 16 s
-- expectations. See README.md.

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
  name = "slp",
  l3 = "both",
  l4 = "udp",
  ports = { 427 },
  policies = { { name = "slp", max_expected = 8, timeout = 16 } },
  payload_only = true,
  on_packet = on_packet,
}
