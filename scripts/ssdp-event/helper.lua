-- ssdp-event: keep UPnP event delivery going, the TCP half of conntrackd's
-- ct_helper_ssdp.
--
-- The ssdp helper expects the connection a device opens to deliver the
-- events a control point subscribed to (NOTIFY to the SUBSCRIBE's
-- callback URL), and attaches the helper its event_helper option names:
-- this one. A device often opens a new connection per event; like
-- conntrackd, on each NOTIFY the helper expects the next connection like
-- this one (the device, any source port, to the control point and the
-- callback port). See README.md.

local expect = require("ctlua.expect")
local log    = require("ctlua.log")

local NAME = "ssdp-event"

local function on_packet(pkt, conn)
  -- conntrackd reads the original direction after the handshake: the
  -- device's request.
  if pkt:ctinfo() ~= "established" or not pkt:prefix("NOTIFY ") then return end
  local orig = conn:tuple("original")
  local ok, err = expect.create{ src = orig.src, dst = orig.dst, dport = orig.dport, helper = NAME }
  if not ok then log.warn("cannot expect the next NOTIFY connection", { error = err }) end
end

return {
  name = NAME,
  l3 = "both",
  l4 = "tcp",
  policies = { { name = "ssdp-event", max_expected = 8, timeout = 300 } },
  payload_only = true,
  on_packet = on_packet,
}
