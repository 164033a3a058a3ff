-- ssdp: let in the answers to a UPnP M-SEARCH, and the HTTP connections
-- to the LOCATION they announce.
--
-- Like conntrackd's ct_helper_ssdp: a control point looks for devices by
-- sending "M-SEARCH * HTTP/1.1" to the SSDP group (239.255.255.250,
-- ff02::c or ff05::c), UDP 1900. Every device answers by unicast, from
-- any port, to the control point's address and port: not replies of the
-- search's connection (whose destination was the group), so the helper
-- expects them (any source, the control point's address and port) and
-- attaches itself to them. An answer carries "LOCATION: http://ADDR:PORT/
-- ...", the device description the control point fetches next over TCP:
-- the helper expects those connections too (any source, ADDR, PORT),
-- with the helper of the location_helper option (ssdp-event: UPnP
-- eventing, conntrackd's ssdp on TCP). See README.md.

local expect  = require("ctlua.expect")
local parse   = require("ctlua.parse")
local log     = require("ctlua.log")
local options = require("ctlua.options")

local NAME = "ssdp"

-- The groups conntrackd recognises (the search's original destination).
local GROUPS = { ["239.255.255.250"] = true, ["ff02::c"] = true, ["ff05::c"] = true }

-- search expects the answers to an M-SEARCH sent to an SSDP group.
local function search(pkt, conn)
  if not pkt:prefix("M-SEARCH") then return end
  local orig = conn:tuple("original")
  if not GROUPS[orig.dst] then return end
  -- The reply tuple from any source address and port: permanent, every
  -- answer, followed by this helper for its LOCATION.
  local spec = { sport = "any", helper = NAME }
  if conn:is_nat() then
    -- The answers reach the translated address: translate them back.
    spec.nat = { dir = "reply", port = orig.sport }
  end
  local ok, err = expect.answers(spec)
  if not ok then log.warn("cannot expect the answers", { error = err }) end
end

-- url returns the address and port of the "http://ADDR[:PORT]" URL at
-- position i of the payload, when ADDR is of the packet's family (as
-- conntrackd requires), or nil.
local function url(pkt, i)
  local addr, port = parse.http_url(pkt, i)
  if not addr or (addr:find(":", 1, true) ~= nil) ~= (pkt:l3() == "ipv6") then return nil end
  return addr, port
end

-- location expects the TCP connections to the LOCATION an answer names.
-- parse.sip_header reads an RFC 822 header line as SIP and HTTP share it:
-- any case, after the start line, before the empty line.
local function location(pkt)
  local i = parse.sip_header(pkt, 1, "LOCATION")
  if not i then return end
  local addr, port = url(pkt, i)
  if not addr then
    log.debug("LOCATION is not an http://ADDR URL", { location = pkt:line(i) })
    return
  end
  -- The kernel looks the helper of an expectation up by its name and the
  -- expectation's protocol, TCP here: it must be a TCP helper.
  local helper = options.get("location_helper")
  local ok, err = expect.create{
    dst = addr, dport = port, l4 = "tcp", permanent = true, helper = helper ~= "" and helper or nil,
  }
  if not ok then log.warn("cannot expect the LOCATION connection", { error = err }) end
end

local function on_packet(pkt, conn)
  if pkt:ctinfo() == "new" then return search(pkt, conn) end
  return location(pkt)
end

return {
  name = NAME,
  l3 = "both",
  l4 = "udp",
  ports = { 1900 },
  policies = { { name = "ssdp", max_expected = 8, timeout = 300 } },
  payload_only = true,
  options = { location_helper = "" },
  on_packet = on_packet,
}
