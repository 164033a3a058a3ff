-- ssdp: let in the answers to a UPnP M-SEARCH, and the HTTP connection
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
-- the helper expects that connection too (any source, ADDR, PORT).
-- See README.md.

local expect = require("ctlua.expect")
local parse  = require("ctlua.parse")
local log    = require("ctlua.log")

-- The groups conntrackd recognises (the search's original destination).
local GROUPS = { ["239.255.255.250"] = true, ["ff02::c"] = true, ["ff05::c"] = true }

-- search expects the answers to an M-SEARCH sent to an SSDP group.
local function search(pkt, conn)
  if not pkt:prefix("M-SEARCH") then return end
  local orig = conn:tuple("original")
  if not GROUPS[orig.dst] then return end
  -- The reply tuple from any source address and port: permanent, every
  -- answer, followed by this helper for its LOCATION.
  local spec = { sport = "any", helper = "ssdp" }
  if conn:is_nat() then
    -- The answers reach the translated address: translate them back.
    spec.nat = { dir = "reply", port = orig.sport }
  end
  local ok, err = expect.answers(spec)
  if not ok then log.warn("cannot expect the answers", { error = err }) end
end

-- url returns the address and port of the URL "http://ADDR[:PORT]" at
-- position at of the payload (an IPv6 address in brackets), of the
-- family l3, or nil. It reads the packet in place: no copy.
local function url(pkt, at, l3)
  if not pkt:iprefix("http://", at) then return nil end
  at = at + 7
  local addr, next
  if pkt:byte(at) == 91 then -- "["
    if l3 ~= "ipv6" then return nil end
    addr, next = parse.ipv6(pkt, at + 1)
    if not addr or pkt:byte(next) ~= 93 then return nil end -- "]"
    next = next + 1
  else
    if l3 ~= "ipv4" then return nil end
    addr, next = parse.ipv4(pkt, at)
    if not addr then return nil end
  end
  if pkt:byte(next) ~= 58 then return addr, 80 end -- ":"
  local port = parse.uint(pkt, next + 1)
  if not port or port < 1 or port > 65535 then return nil end
  return addr, port
end

-- location expects the TCP connection to the LOCATION an answer names:
-- the first header line (after the start line, before the empty line)
-- "LOCATION:" in any case.
local function location(pkt, conn)
  local at = 1
  while true do
    local nl = pkt:find("\n", at)
    if not nl then return end
    at = nl + 1
    local b = pkt:byte(at)
    if b == 13 or b == 10 then return end -- the empty line
    if pkt:iprefix("LOCATION:", at) then
      local v = at + 9
      while pkt:byte(v) == 32 or pkt:byte(v) == 9 do v = v + 1 end
      local addr, port = url(pkt, v, pkt:l3())
      if not addr then
        log.debug("LOCATION is not an http://ADDR URL", { location = pkt:line(at) })
        return
      end
      local ok, err = expect.create{ dst = addr, dport = port, l4 = "tcp", permanent = true }
      if not ok then log.warn("cannot expect the LOCATION connection", { error = err }) end
      return
    end
  end
end

local function on_packet(pkt, conn)
  if pkt:ctinfo() == "new" then return search(pkt, conn) end
  return location(pkt, conn)
end

return {
  name = "ssdp",
  l3 = "both",
  l4 = "udp",
  ports = { 1900 },
  policies = { { name = "ssdp", max_expected = 8, timeout = 300 } },
  payload_only = true,
  on_packet = on_packet,
}
