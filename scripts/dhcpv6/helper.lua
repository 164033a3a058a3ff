-- dhcpv6: let in the answers to a DHCPv6 client's multicast messages.
--
-- Like conntrackd's ct_helper_dhcpv6: a client sends Solicit, Request,
-- Confirm, Renew, Rebind, Release, Decline and Information-request from
-- port 546 to the All_DHCP_Relay_Agents_and_Servers group ff02::1:2,
-- UDP 547; the servers answer by unicast from their link-local address,
-- port 547, to the client's address, port 546: not replies of the
-- message's connection (whose destination was the group). The helper
-- expects them: any source address and port, destination = the client,
-- port 546. It also sets the master connection's timeout to the time
-- the message type waits for its answer (Renew 600 s, ...). See
-- README.md.

local expect  = require("ctlua.expect")
local log     = require("ctlua.log")

local CLIENT_PORT = 546

-- TIMEOUTS[type] is how long, in seconds, a message of that type waits
-- for its answers (conntrackd's table, RFC 3315's retransmission limits);
-- 0 leaves the connection's timeout alone. Types 1..13 of RFC 3315;
-- the later ones (RFC 8415, RFC 7341's DHCPv4-query) leave it alone too.
local TIMEOUTS = {
  [0] = 0, 120, 0, 30, 4, 600, 600, 0, 1, 1, 0, 120, 0, 0,
}

local function on_packet(pkt, conn)
  local dst = pkt:dst()
  -- Multicast destinations only (ff00::/8): a unicast message's answers
  -- are replies of its own connection.
  if dst:byte(1) ~= 102 or dst:byte(2) ~= 102 then return end
  -- conntrackd drops the types it does not know (README: Differences
  -- from conntrackd); the helper expects their answers too, and leaves
  -- the timeout alone.
  local timeout = TIMEOUTS[pkt:byte(1)] or 0
  -- Any source address and port, to the client's address, port 546.
  local ok, err = expect.answers{ sport = "any", dport = CLIENT_PORT }
  if not ok then
    log.warn("cannot expect the answers", { error = err })
    return
  end
  -- Not on the connection's first packet: a timeout sent with the
  -- verdict of an unconfirmed connection is taken as a deadline that
  -- confirmation shifts, which can expire the connection, and its
  -- expectation, at once (scripts/netbios-ns/README.md).
  if timeout > 0 and conn:has_status("confirmed") then
    conn:set_timeout(timeout)
  end
end

return {
  name = "dhcpv6",
  l3 = "ipv6",
  l4 = "udp",
  ports = { 547 },
  policies = { { name = "dhcpv6", max_expected = 1, timeout = 300 } },
  payload_only = true,
  on_packet = on_packet,
}
