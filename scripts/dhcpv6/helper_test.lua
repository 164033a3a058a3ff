-- Tests of the dhcpv6 helper, run by scripts_test.go (go test ./scripts/).
local testing = require("ctlua.testing")

local CLIENT = { client = "fe80::c", server = "ff02::1:2", sport = 546, dport = 547, l4 = "udp" }
-- msg builds a DHCPv6 message of a type: type, transaction id, a client
-- identifier option.
local function msg(typ) return string.char(typ) .. "\18\52\86\0\1\0\10\0\3\0\1\2\0\0\0\0\1" end

function Test_solicit_expects_answers_from_any_server(t)
  local c = testing.load("helper.lua"):conn(CLIENT)
  local d = c:send("original", msg(1), { ctinfo = "new" })
  t:eq(d.error, nil); t:eq(d.verdict, "accept"); t:eq(#d.expectations, 1)
  local e = d.expectations[1] or {}
  -- conntrackd: any source address and port, the client, port 546
  t:eq(e.mask_src, "::"); t:eq(e.sport, 0); t:eq(e.mask_sport, 0)
  t:eq(e.dst, "fe80::c"); t:eq(e.dport, 546); t:eq(e.mask_dport, 65535)
  t:eq(e.l4, "udp"); t:eq(e.permanent, true); t:eq(e.policy, "dhcpv6"); t:eq(e.class, 0)
end

function Test_every_client_message_type(t)
  for typ = 0, 13 do
    local c = testing.load("helper.lua"):conn(CLIENT)
    t:eq(#c:send("original", msg(typ), { ctinfo = "new" }).expectations, 1, "type " .. typ)
  end
end

function Test_later_types_are_not_dropped(t)
  -- conntrackd drops types from 14 on (see README: Differences from
  -- conntrackd); a DHCPv4-query (20, RFC 7341) to ff02::1:2 is answered
  -- by unicast to port 546 like the others.
  for _, typ in ipairs({ 14, 20, 255 }) do
    local c = testing.load("helper.lua"):conn(CLIENT)
    local d = c:send("original", msg(typ), { ctinfo = "new" })
    t:eq(#d.expectations, 1, "type " .. typ); t:eq(d.verdict, "accept")
  end
end

function Test_unicast_messages_expect_nothing(t)
  -- A Renew to a server's unicast address is answered in its own
  -- connection.
  local c = testing.load("helper.lua"):conn{ client = "2001:db8::c", server = "2001:db8::2", sport = 546, dport = 547, l4 = "udp" }
  t:eq(#c:send("original", msg(5), { ctinfo = "new" }).expectations, 0)
end

function Test_later_messages_expect_again(t)
  -- Solicit, Request and Release leave the client's port 546 for
  -- ff02::1:2: one connection, whose expectation each message renews.
  local c = testing.load("helper.lua"):conn(CLIENT)
  t:eq(#c:send("original", msg(1), { ctinfo = "new" }).expectations, 1)
  local e = c:send("original", msg(3), { ctinfo = "new" }).expectations[1] or {}
  t:eq(e.dst, "fe80::c"); t:eq(e.dport, 546)
  t:eq(#c:send("original", msg(8), { ctinfo = "new" }).expectations, 1)
end
