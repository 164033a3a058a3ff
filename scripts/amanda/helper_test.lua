-- Tests of the amanda helper, run by scripts_test.go (go test ./scripts/).
local testing = require("ctlua.testing")

local V4 = { client = "192.0.2.1", server = "192.0.2.2", sport = 850, dport = 10080, l4 = "udp" }
local V6 = { client = "2001:db8::1", server = "2001:db8::2", sport = 850, dport = 10080, l4 = "udp" }
-- The connection's "client" is the backup server, which sends the
-- requests; the Amanda client answers from port 10080 (reply direction).

local function rep(connect)
  return "Amanda 2.6 REP HANDLE 000-6c7a0001 SEQ 1001\nCONNECT " .. connect .. "\nOPTIONS features=9ffe00;\n"
end

local function ports(d)
  local out = {}
  for _, e in ipairs(d.expectations) do out[#out + 1] = e.dport end
  return table.concat(out, ",")
end

function Test_connect_expects_every_stream(t)
  for _, conn in ipairs({ V4, V6 }) do
    local c = testing.load("helper.lua"):conn(conn)
    local d = c:send("reply", rep("DATA 50001 MESG 50002 INDEX 50003"))
    t:eq(d.error, nil); t:eq(ports(d), "50001,50002,50003")
    local e = d.expectations[1] or {}
    -- kernel: orig.src -> orig.dst:port, TCP, any source port
    t:eq(e.src, conn.client); t:eq(e.dst, conn.server); t:eq(e.l4, "tcp")
    t:eq(e.mask_sport, 0); t:eq(e.mask_dport, 65535); t:eq(e.policy, "amanda"); t:eq(e.inserted, true)
  end
end

-- The kernel looks the words up in the order DATA, MESG, INDEX, STATE,
-- whatever their order in the line.
function Test_kernel_order_and_state(t)
  local c = testing.load("helper.lua"):conn(V4)
  t:eq(ports(c:send("reply", rep("STATE 4 INDEX 3 MESG 2 DATA 1"))), "1,2,3,4")
end

function Test_only_the_connect_line(t)
  local c = testing.load("helper.lua"):conn(V4)
  local d = c:send("reply", "Amanda 2.6 REP HANDLE x SEQ 1\nCONNECT DATA 50001\nMESG 50002\n")
  t:eq(ports(d), "50001")
end

function Test_bad_port_stops(t)
  local cases = {
    { "DATA x MESG 50002", "" },            -- port 0: the kernel breaks out
    { "DATA 65536 MESG 50002", "" },        -- 65536 & 0xffff = 0
    { "DATA 70000 MESG 50002", "4464,50002" }, -- cut to 16 bits like htons()
    { "DATA 123456 MESG 2", "12345,2" },    -- at most 5 digits
  }
  for _, tc in ipairs(cases) do
    local c = testing.load("helper.lua"):conn(V4)
    t:eq(ports(c:send("reply", rep(tc[1]))), tc[2], tc[1])
  end
end

function Test_ignored(t)
  local cases = {
    { "original", rep("DATA 50001") },                        -- from the server
    { "reply", "Amanda 2.6 ACK HANDLE x SEQ 1\n" },           -- no CONNECT
    { "reply", "Amanda 2.6 REP HANDLE x SEQ 1\nCONNECT DATA 50001" }, -- no newline
  }
  for _, tc in ipairs(cases) do
    local c = testing.load("helper.lua"):conn(V4)
    local d = c:send(tc[1], tc[2])
    t:eq(#d.expectations, 0, tc[2]); t:eq(d.verdict, "accept", tc[2]); t:eq(d.error, nil, tc[2])
  end
end

function Test_refused_expectation_drops(t)
  local h = testing.load("helper.lua")
  h:occupy{ src = "192.0.2.1", dst = "192.0.2.2", dport = 50001, l4 = "tcp" }
  t:eq(h:conn(V4):send("reply", rep("DATA 50001")).verdict, "drop")
end

-- Like nf_nat_amanda: the expectation follows the master's NAT in the
-- original direction and the port text is rewritten to the hunted port.
function Test_dnat_rewrites_the_ports(t)
  local h = testing.load("helper.lua")
  h:occupy{ src = "192.0.2.1", dst = "198.51.100.2", dport = 50002, l4 = "tcp" }
  local c = h:conn{ client = "192.0.2.1", server = "198.51.100.2", sport = 850, dport = 10080, l4 = "udp",
    nat = { server = "10.0.0.2" } }
  local d = c:send("reply", rep("DATA 50001 MESG 50002"))
  t:eq(#d.expectations, 2)
  local e1, e2 = d.expectations[1] or {}, d.expectations[2] or {}
  t:eq(e1.dst, "198.51.100.2"); t:eq(e1.dport, 50001); t:eq(e1.nat_dir, "original"); t:eq(e1.nat_port, 50001)
  t:eq(e2.nat_port, 50002); t:eq(e2.dport ~= 50002, true, "hunted")
  t:eq(d.packet, rep("DATA 50001 MESG " .. e2.dport)); t:eq(d.checksums_ok, true)
end
