-- Tests of the snmp helper, run by scripts_test.go (go test ./scripts/).
-- The broadcasts option stands for the interface data here; the
-- ctlua.iface path is compared with the kernel in tests/oracle
-- (TestReplayMatchesKernel, TestBroadcastNeedsTheInterface).
local testing = require("ctlua.testing")

local Q = { client = "192.0.2.1", server = "192.0.2.255", sport = 40000, dport = 161, l4 = "udp" }
-- SNMPv2c GetRequest, community public, sysDescr.0
local QUERY = "0)\2\1\1\4\6public\160\28\2\2\18\0\2\1\0\2\1\0000\0160\14\6\8+\6\1\2\1\1\1\0\5\0"

local function load(opts)
  return testing.load("helper.lua", opts or { broadcasts = "192.0.2.255/24 198.51.100.127/25" })
end

function Test_query_to_the_broadcast_address(t)
  local c = load():conn(Q)
  local d = c:send("original", QUERY, { ctinfo = "new" })
  t:eq(d.error, nil); t:eq(#d.expectations, 1)
  local e = d.expectations[1] or {}
  -- kernel: the reply tuple, source port 161, source masked with the netmask
  t:eq(e.src, "192.0.2.255"); t:eq(e.mask_src, "255.255.255.0")
  t:eq(e.sport, 161); t:eq(e.mask_sport, 65535)
  t:eq(e.dst, "192.0.2.1"); t:eq(e.dport, 40000); t:eq(e.mask_dport, 65535)
  t:eq(e.l4, "udp"); t:eq(e.permanent, true); t:eq(e.policy, "snmp"); t:eq(e.class, 0)
end

function Test_other_prefix(t)
  local c = load():conn{ client = "198.51.100.1", server = "198.51.100.127", sport = 40000, dport = 161, l4 = "udp" }
  local e = c:send("original", QUERY, { ctinfo = "new" }).expectations[1] or {}
  t:eq(e.mask_src, "255.255.255.128")
end

function Test_not_a_known_broadcast_address(t)
  for _, dst in ipairs({ "192.0.2.2", "192.0.2.127", "203.0.113.255" }) do
    local c = load():conn{ client = "192.0.2.1", server = dst, sport = 40000, dport = 161, l4 = "udp" }
    t:eq(#c:send("original", QUERY, { ctinfo = "new" }).expectations, 0, dst)
  end
end

function Test_answers_are_not_examined(t)
  local c = load():conn(Q)
  t:eq(#c:send("reply", QUERY).expectations, 0)
end

