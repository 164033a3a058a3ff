-- Tests of the rpc helper, run by scripts_test.go (go test ./scripts/).
local testing = require("ctlua.testing")

local function w(n) return string.char(math.floor(n / 16777216) % 256, math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256) end
local function str(s) return w(#s) .. s .. string.rep("\0", (4 - #s % 4) % 4) end
local NULL_AUTH = w(0) .. w(0)

-- getport is a portmapper v2 GETPORT call; getaddr an rpcbind GETADDR.
local function getport(xid, prog, prot) return w(xid) .. w(0) .. w(2) .. w(100000) .. w(2) .. w(3) .. NULL_AUTH .. NULL_AUTH .. w(prog) .. w(1) .. w(prot) .. w(0) end
local function getaddr(xid, vers, prog, netid)
  return w(xid) .. w(0) .. w(2) .. w(100000) .. w(vers) .. w(3) .. NULL_AUTH .. NULL_AUTH .. w(prog) .. w(1) .. str(netid) .. str("192.0.2.2.0.111") .. str("libtirpc")
end
local function port_reply(xid, port) return w(xid) .. w(1) .. w(0) .. NULL_AUTH .. w(0) .. w(port) end
local function addr_reply(xid, uaddr) return w(xid) .. w(1) .. w(0) .. NULL_AUTH .. w(0) .. str(uaddr) end
local function rm(s) return w(2147483648 + #s) .. s end -- TCP record mark, last fragment

local UDP = { client = "192.0.2.1", server = "192.0.2.2", sport = 745, dport = 111, l4 = "udp" }
local TCP = { client = "192.0.2.1", server = "192.0.2.2", sport = 40000, dport = 111 }
local TCP6 = { client = "2001:db8::1", server = "2001:db8::2", sport = 40000, dport = 111 }

function Test_getport_udp_expects_the_program(t)
  local c = testing.load("helper.lua"):conn(UDP)
  t:eq(#c:send("original", getport(7, 100024, 17)).expectations, 0)
  local d = c:send("reply", port_reply(7, 32765))
  t:eq(d.error, nil); t:eq(#d.expectations, 1)
  local e = d.expectations[1] or {}
  -- conntrackd: client -> server:port, any source port, the call's protocol, permanent
  t:eq(e.src, "192.0.2.1"); t:eq(e.dst, "192.0.2.2"); t:eq(e.dport, 32765); t:eq(e.mask_sport, 0)
  t:eq(e.l4, "udp"); t:eq(e.permanent, true); t:eq(e.policy, "rpc"); t:eq(e.inserted, true)
end

function Test_getport_tcp_with_record_marking_and_another_protocol(t)
  local c = testing.load("helper.lua"):conn(TCP)
  c:send("original", rm(getport(9, 100003, 17))) -- asks for NFS over UDP
  local d = c:send("reply", rm(port_reply(9, 2049)))
  t:eq(#d.expectations, 1)
  t:eq((d.expectations[1] or {}).l4, "udp", "the protocol the call asked for, not the master's")
end

function Test_getaddr_v3_v4_and_ipv6(t)
  local c = testing.load("helper.lua"):conn(TCP)
  c:send("original", rm(getaddr(5, 4, 100024, "tcp")))
  local d = c:send("reply", rm(addr_reply(5, "192.0.2.2.127.253")))
  t:eq(#d.expectations, 1); t:eq((d.expectations[1] or {}).dport, 32765)
  local c6 = testing.load("helper.lua"):conn(TCP6)
  c6:send("original", rm(getaddr(6, 3, 100024, "udp6")))
  d = c6:send("reply", rm(addr_reply(6, "2001:db8::2.127.253")))
  t:eq(#d.expectations, 1)
  local e = d.expectations[1] or {}
  t:eq(e.dst, "2001:db8::2"); t:eq(e.dport, 32765); t:eq(e.l4, "udp")
end

-- Replies that must not expect anything, each after a good call.
function Test_replies_that_expect_nothing(t)
  local cases = {
    { "another XID", port_reply(8, 32765) },
    { "rejected", w(7) .. w(1) .. w(1) .. w(0) .. w(0) },
    { "not SUCCESS", w(7) .. w(1) .. w(0) .. NULL_AUTH .. w(1) .. w(32765) },
    { "port 0 (not registered)", port_reply(7, 0) },
    { "port over 65535", port_reply(7, 65536 + 32765) },
    { "trailing bytes", port_reply(7, 32765) .. w(0) },
    { "truncated", w(7) .. w(1) .. w(0) },
    { "a CALL in the reply direction", getport(7, 100024, 17) },
  }
  for _, tc in ipairs(cases) do
    local c = testing.load("helper.lua"):conn(UDP)
    c:send("original", getport(7, 100024, 17))
    local d = c:send("reply", tc[2])
    t:eq(#d.expectations, 0, tc[1]); t:eq(d.verdict, "accept", tc[1]); t:eq(d.error, nil, tc[1])
  end
end

-- Calls that are not a lookup leave nothing to answer.
function Test_calls_that_are_not_lookups(t)
  local dump = w(7) .. w(0) .. w(2) .. w(100000) .. w(2) .. w(4) .. NULL_AUTH .. NULL_AUTH
  local cases = {
    { "PMAPPROC_DUMP", dump },
    { "rpc version 3", w(7) .. w(0) .. w(3) .. getport(7, 100024, 17):sub(13) },
    { "not the portmapper", w(7) .. w(0) .. w(2) .. w(100003) .. getport(7, 100024, 17):sub(17) },
    { "protocol ICMP", getport(7, 100024, 1) },
    { "a port in the call", getport(7, 100024, 17):sub(1, -5) .. w(111) },
    { "credentials over 400 bytes", w(7) .. w(0) .. w(2) .. w(100000) .. w(2) .. w(3) .. w(1) .. w(404) .. string.rep("\0", 404) .. NULL_AUTH .. w(100024) .. w(1) .. w(17) .. w(0) },
    { "unknown netid", getaddr(7, 4, 100024, "rdma") },
  }
  for _, tc in ipairs(cases) do
    local c = testing.load("helper.lua"):conn(UDP)
    c:send("original", tc[2])
    t:eq(#c:send("reply", port_reply(7, 32765)).expectations, 0, tc[1])
  end
end

-- A GETPORT call whose credentials carry a body (AUTH_UNIX) still counts.
function Test_auth_unix_credentials(t)
  local cred = w(1) .. w(20) .. w(0) .. str("host") .. w(0) .. w(0)
  local call = w(3) .. w(0) .. w(2) .. w(100000) .. w(2) .. w(3) .. cred .. NULL_AUTH .. w(100024) .. w(1) .. w(17) .. w(0)
  local c = testing.load("helper.lua"):conn(UDP)
  c:send("original", call)
  t:eq(#c:send("reply", port_reply(3, 32765)).expectations, 1)
end

-- A second lookup while the first's permanent expectation lives: the
-- reply passes (conntrackd updates the existing expectation).
function Test_repeated_lookup_is_not_dropped(t)
  local h = testing.load("helper.lua")
  local c = h:conn(UDP)
  c:send("original", getport(1, 100024, 17))
  t:eq(#c:send("reply", port_reply(1, 32765)).expectations, 1)
  h:occupy{ src = "192.0.2.1", dst = "192.0.2.2", dport = 32765, l4 = "udp" }
  local c2 = h:conn{ client = "192.0.2.1", server = "192.0.2.2", sport = 746, dport = 111, l4 = "udp" }
  c2:send("original", getport(2, 100024, 17))
  local d = c2:send("reply", port_reply(2, 32765))
  t:eq(d.verdict, "accept"); t:eq(d.error, nil)
end

-- Under NAT (the server behind DNAT) the expectation is for the address
-- the client used, follows the master's NAT, and the reply carries the
-- hunted port.
function Test_nat_getport_and_getaddr(t)
  local h = testing.load("helper.lua")
  h:occupy{ src = "192.0.2.1", dst = "203.0.113.1", dport = 32765, l4 = "udp" }
  local c = h:conn{ client = "192.0.2.1", server = "203.0.113.1", sport = 745, dport = 111, l4 = "udp", nat = { server = "198.51.100.2" } }
  c:send("original", getport(4, 100024, 17))
  local d = c:send("reply", port_reply(4, 32765))
  t:eq(#d.expectations, 1)
  local e = d.expectations[1] or {}
  t:eq(e.dst, "203.0.113.1"); t:eq(e.nat_dir, "original"); t:eq(e.nat_port, 32765)
  t:eq(d.packet, port_reply(4, e.dport)); t:eq(d.checksums_ok, true)
  if e.dport == 32765 then t:errorf("the port was not hunted") end

  local ct = h:conn{ client = "192.0.2.1", server = "203.0.113.1", sport = 40001, dport = 111, nat = { server = "198.51.100.2" } }
  ct:send("original", rm(getaddr(5, 4, 100024, "tcp")))
  d = ct:send("reply", rm(addr_reply(5, "198.51.100.2.127.253")))
  t:eq(#d.expectations, 1)
  e = d.expectations[1] or {}
  t:eq(d.packet, rm(addr_reply(5, "203.0.113.1." .. math.floor(e.dport / 256) .. "." .. e.dport % 256)))
end

-- GETADDR naming another host than the server is not followed.
function Test_getaddr_other_host(t)
  local c = testing.load("helper.lua"):conn(TCP)
  c:send("original", rm(getaddr(5, 4, 100024, "tcp")))
  t:eq(#c:send("reply", rm(addr_reply(5, "192.0.2.99.127.253"))).expectations, 0)
end
