-- snmp: let the answers to an SNMP request broadcast in.
--
-- Like the kernel's nf_conntrack_snmp (nf_conntrack_broadcast_help):
-- a request a local program (snmpget, snmpwalk) sends to its subnet's
-- broadcast address (UDP 161) is answered by any agent of that subnet,
-- from port 161, to the request's source port. The helper expects those
-- answers: source = the broadcast address masked with the interface's
-- netmask, port 161. It learns the netmask from the interface that has
-- that broadcast address (ctlua.iface), or from the broadcasts option.
-- See README.md.

local expect  = require("ctlua.expect")
local iface   = require("ctlua.iface")
local options = require("ctlua.options")
local log     = require("ctlua.log")

local PORT = 161

-- fixed parses the broadcasts option, "B/PREFIX ...", into
-- { [broadcast] = mask }; it is read once.
local fixed
local function fixed_masks()
  if fixed then return fixed end
  fixed = {}
  for b, bits in string.gmatch(options.get("broadcasts"), "([%d%.]+)/(%d+)") do
    local n, m = tonumber(bits), {}
    for k = 1, 4 do
      local ones = math.max(0, math.min(8, n - (k - 1) * 8))
      m[k] = 256 - 2 ^ (8 - ones)
    end
    fixed[b] = table.concat(m, ".")
  end
  return fixed
end

-- mask_for returns the netmask of the subnet whose broadcast address is
-- dst when the packet comes from this host, or nil.
local function mask_for(pkt, dst)
  local masks = fixed_masks()
  if next(masks) then return masks[dst] end
  local ifa = iface.by_broadcast(dst)
  if not ifa then return nil end
  -- The kernel looks only at locally generated packets.
  if not iface.by_addr(pkt:src()) then return nil end
  return ifa.mask
end

local function on_packet(pkt, conn)
  if pkt:dir() ~= "original" then return end
  -- The kernel compares the packet's destination (iph->daddr).
  local mask = mask_for(pkt, pkt:dst())
  if not mask then return end
  -- The reply tuple, its source masked: answers from any host of the
  -- subnet, from the query's destination port, to the querier.
  local ok, err = expect.answers{ src_mask = mask }
  if not ok then
    log.warn("cannot expect the answers", { error = err })
    return
  end
  -- The kernel's nf_ct_refresh. Not on the first packet: the connection
  -- is not confirmed yet, and a timeout sent with its verdict is taken as
  -- a deadline that confirmation then shifts (ctnetlink's glue writes it
  -- as absolute time, confirmation adds the clock again), which can
  -- expire the connection, and its expectation, at once. The unreplied
  -- UDP timeout (30 s) holds until then.
  if conn:has_status("confirmed") then
    conn:set_timeout(options.get("timeout"))
  end
end

return {
  name = "snmp",
  l3 = "ipv4",
  l4 = "udp",
  ports = { PORT },
  policies = { { name = "snmp", max_expected = 1, timeout = 30 } },
  options = { timeout = 30, broadcasts = "" },
  on_packet = on_packet,
}
