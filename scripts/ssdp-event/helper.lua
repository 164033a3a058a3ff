-- ssdp-event: UPnP eventing, the TCP half of conntrackd's ct_helper_ssdp.
--
-- The ssdp helper expects the control point's connections to a device's
-- HTTP port (the LOCATION of the device's answer) and attaches the helper
-- its location_helper option names: this one. On them, a control point
-- subscribes to the device's events with "SUBSCRIBE /evt/... HTTP/1.1" and
-- "CALLBACK: <http://ADDR:PORT/...>"; the device then connects back to
-- ADDR:PORT to deliver each event (NOTIFY): a new connection in the other
-- direction. On a SUBSCRIBE whose callback address is the subscriber's
-- own, the helper expects that connection (from the device, any port, to
-- the subscriber and the callback port) and attaches itself to it; on
-- each NOTIFY it expects the next one like it, like conntrackd.
-- See README.md.

local expect = require("ctlua.expect")
local parse  = require("ctlua.parse")
local log    = require("ctlua.log")

local NAME = "ssdp-event"

-- callback returns the address and port of the URL "<http://ADDR:PORT"
-- that begins the request's CALLBACK header, when ADDR is of the
-- packet's family (as conntrackd requires), or nil. parse.sip_header
-- reads an RFC 822 header line as SIP and HTTP share it: any case, after
-- the start line, before the empty line.
local function callback(pkt)
  local i = parse.sip_header(pkt, 1, "CALLBACK")
  if not i or pkt:byte(i) ~= 60 then return nil end -- "<"
  local addr, port = parse.http_url(pkt, i + 1)
  if not addr or (addr:find(":", 1, true) ~= nil) ~= (pkt:l3() == "ipv6") then return nil end
  return addr, port
end

-- subscribe expects the device's NOTIFY connections to the callback.
local function subscribe(pkt, conn)
  local addr, port = callback(pkt)
  local orig, reply = conn:tuple("original"), conn:tuple("reply")
  -- conntrackd: only a callback to the subscriber itself.
  if not addr or addr ~= orig.src then
    log.debug("no callback to the subscriber itself", { callback = addr })
    return
  end
  local ok, err = expect.create{ src = reply.src, dst = reply.dst, dport = port, helper = NAME }
  if not ok then log.warn("cannot expect the NOTIFY connections", { error = err }) end
end

-- notify expects the device's next NOTIFY connection, like this one.
local function notify(conn)
  local orig = conn:tuple("original")
  local ok, err = expect.create{ src = orig.src, dst = orig.dst, dport = orig.dport, helper = NAME }
  if not ok then log.warn("cannot expect the next NOTIFY connection", { error = err }) end
end

local function on_packet(pkt, conn)
  -- conntrackd reads the original direction after the handshake: the
  -- subscriber's requests, the device's NOTIFY.
  if pkt:ctinfo() ~= "established" then return end
  if pkt:prefix("NOTIFY ") then return notify(conn) end
  if pkt:prefix("SUBSCRIBE ") then return subscribe(pkt, conn) end
end

return {
  name = NAME,
  l3 = "both",
  l4 = "tcp",
  policies = { { name = "ssdp-event", max_expected = 8, timeout = 300 } },
  payload_only = true,
  on_packet = on_packet,
}
