-- Tests of the ftp helper, run by scripts_test.go (go test ./scripts/).
local testing = require("ctlua.testing")

local V4 = { client = "192.0.2.1", server = "192.0.2.2", sport = 40000, dport = 21 }
local V6 = { client = "2001:db8::1", server = "2001:db8::2", sport = 40000, dport = 21 }

-- session opens a control connection past the greeting and the first
-- client command, which the kernel never examines (no newline seen yet).
local function session(conn, h)
  local c = (h or testing.load("helper.lua")):conn(conn)
  c:send("reply", "220 ready\r\n")
  c:send("original", "USER anonymous\r\n")
  return c
end

local function one(t, d)
  t:eq(d.error, nil)
  t:eq(#d.expectations, 1, "expectations")
  return d.expectations[1] or {}
end

function Test_port(t)
  local c = session(V4)
  local e = one(t, c:send("original", "PORT 192,0,2,1,195,80\r\n"))
  -- kernel: src = reply.src (server), dst = reply.dst (client), sport any
  t:eq(e.src, "192.0.2.2"); t:eq(e.dst, "192.0.2.1")
  t:eq(e.dport, 50000); t:eq(e.mask_sport, 0); t:eq(e.mask_dport, 65535)
  t:eq(e.mask_src, "255.255.255.255"); t:eq(e.mask_dst, "255.255.255.255")
  t:eq(e.l4, "tcp"); t:eq(e.policy, "ftp"); t:eq(e.class, 0)
end

function Test_port_lowercase(t)
  local c = session(V4)
  one(t, c:send("original", "port 192,0,2,1,4,1\r\n"))
end

function Test_eprt_ipv4(t)
  local c = session(V4)
  local e = one(t, c:send("original", "EPRT |1|192.0.2.1|50001|\r\n"))
  t:eq(e.dst, "192.0.2.1"); t:eq(e.dport, 50001)
end

function Test_eprt_ipv6(t)
  local c = session(V6)
  local e = one(t, c:send("original", "EPRT |2|2001:db8::1|50002|\r\n"))
  t:eq(e.src, "2001:db8::2"); t:eq(e.dst, "2001:db8::1"); t:eq(e.dport, 50002)
  t:eq(e.mask_src, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
end

function Test_pasv_227(t)
  local c = session(V4)
  c:send("original", "PASV\r\n")
  local e = one(t, c:send("reply", "227 Entering Passive Mode (192,0,2,2,195,149).\r\n"))
  -- kernel: src = orig.src (client), dst = orig.dst (server)
  t:eq(e.src, "192.0.2.1"); t:eq(e.dst, "192.0.2.2"); t:eq(e.dport, 50069)
end

function Test_pasv_227_without_parentheses(t)
  local c = session(V4)
  local e = one(t, c:send("reply", "227 =192,0,2,2,4,2\r\n"))
  t:eq(e.dport, 1026)
end

function Test_epsv_229_ipv4_and_ipv6(t)
  for _, conn in ipairs({ V4, V6 }) do
    local c = session(conn)
    local e = one(t, c:send("reply", "229 Entering Extended Passive Mode (|||6446|)\r\n"))
    t:eq(e.src, conn.client); t:eq(e.dst, conn.server); t:eq(e.dport, 6446)
  end
end

function Test_foreign_address_is_not_expected(t)
  local c = session(V4)
  local d = c:send("original", "PORT 198,51,100,7,4,1\r\n")
  t:eq(#d.expectations, 0)
  t:eq(d.verdict, "accept")
end

function Test_foreign_address_with_loose(t)
  local c = session(V4, testing.load("helper.lua", { loose = true }))
  local e = one(t, c:send("original", "PORT 198,51,100,7,4,1\r\n"))
  t:eq(e.dst, "198.51.100.7")
end

function Test_first_segment_is_not_examined(t)
  -- Without a newline seen in that direction, the kernel does not look.
  local c = testing.load("helper.lua"):conn(V4)
  local d = c:send("original", "PORT 192,0,2,1,4,1\r\n")
  t:eq(#d.expectations, 0)
  -- but the next line is
  one(t, c:send("original", "PORT 192,0,2,1,4,2\r\n"))
end

function Test_pickup_examines_the_first_segment(t)
  -- A connection taken over mid-stream (HA failover, daemon restart): the
  -- helper has no state, the next command is in the first segment it sees.
  local c = testing.load("helper.lua", { pickup = true }):conn(V4)
  one(t, c:send("original", "PORT 192,0,2,1,4,1\r\n"))
  local e = one(t, c:send("reply", "227 Entering Passive Mode (192,0,2,2,4,2)\r\n"))
  t:eq(e.dport, 1026)
  -- later segments only after a newline, as before
  c:send("original", "NOOP")
  t:eq(#c:send("original", "PORT 192,0,2,1,4,3\r\n").expectations, 0)
end

function Test_pickup_on_a_new_connection(t)
  -- The greeting and USER are the first segments: nothing changes.
  local c = session(V4, testing.load("helper.lua", { pickup = true }))
  one(t, c:send("original", "PORT 192,0,2,1,4,1\r\n"))
end

function Test_command_not_at_line_start(t)
  local c = session(V4)
  c:send("original", "NOOP") -- no newline: the next segment continues a line
  local d = c:send("original", "PORT 192,0,2,1,4,1\r\n")
  t:eq(#d.expectations, 0)
end

function Test_split_command_is_dropped(t)
  local c = session(V4)
  local d = c:send("original", "PO")
  t:eq(d.verdict, "drop")
end

-- Like nf_conntrack_ftp's find_pattern: a line that starts with a
-- command but whose argument does not parse is dropped (TCP retransmits
-- it); other lines pass.
function Test_unparsable_commands_are_dropped(t)
  local cases = {
    { V4, "original", "PORT\r\n" },
    { V4, "original", "PORT 1,2,3\r\n" },
    { V4, "original", "EPRT |3|x|1|\r\n" },
    { V4, "original", "EPRT |2|2001:db8::1|5000|\r\n" }, -- family of the other IP version
    { V6, "original", "EPRT |1|192.0.2.1|5000|\r\n" },
    { V4, "reply", "227 Entering Passive Mode\r\n" },
    { V4, "reply", "229 Entering Extended Passive Mode\r\n" },
    { V4, "reply", "229 Entering Extended Passive Mode (|||x|)\r\n" },
    { V4, "original", "PORT" }, -- as long as the pattern: partial for the kernel
    { V4, "original", "PORT 192,0," }, -- split after the pattern: the rest comes later
  }
  for _, tc in ipairs(cases) do
    local c = session(tc[1])
    local d = c:send(tc[2], tc[3])
    t:eq(d.verdict, "drop", tc[3]); t:eq(#d.expectations, 0, tc[3]); t:eq(d.error, nil, tc[3])
  end
end

function Test_other_lines_pass(t)
  local c = session(V4)
  -- Over 255: the kernel's try_rfc959 takes it, and the address is then
  -- not the sender's.
  for _, line in ipairs({ "PORT 300,1,1,1,1,1\r\n", "LIST\r\n", "NOOP\r\n" }) do
    local d = c:send("original", line)
    t:eq(d.verdict, "accept", line); t:eq(#d.expectations, 0, line); t:eq(d.error, nil, line)
  end
end

-- A dropped line is not remembered for newline tracking: its
-- retransmission starts at a newline again and is examined.
function Test_retransmission_of_a_dropped_line_is_examined(t)
  local c = session(V4) -- the next line starts at 1016 (1000 + "USER anonymous\r\n")
  local d = c:send("original", "PORT\r\n", { seq = 1016 })
  t:eq(d.verdict, "drop")
  -- Its end (1022) is not a start of line: the kernel did not record it.
  t:eq(#c:send("original", "PORT 192,0,2,1,4,1\r\n", { seq = 1022 }).expectations, 0, "after the dropped line")
  one(t, c:send("original", "PORT 192,0,2,1,4,1\r\n", { seq = 1016 }))
  -- The line after the accepted one is examined too.
  one(t, c:send("original", "PORT 192,0,2,1,4,2\r\n"))
end

-- Like the kernel ("cannot add expectation"): a command whose expectation
-- clashes with another connection's is dropped.
function Test_expectation_clash_drops_the_command(t)
  local h = testing.load("helper.lua")
  h:occupy{ src = "192.0.2.2", dst = "192.0.2.1", dport = 1025 }
  local c = session(V4, h)
  local d = c:send("original", "PORT 192,0,2,1,4,1\r\n")
  t:eq(d.verdict, "drop"); t:eq(#d.expectations, 0)
  t:eq(d.logs[#d.logs].msg, "cannot expect, dropping the command")
end

function Test_not_established_is_ignored(t)
  local c = session(V4)
  local d = c:send("original", "PORT 192,0,2,1,4,1\r\n", { ctinfo = "new" })
  t:eq(#d.expectations, 0)
end

-- NAT: the client 10.0.0.5 is masqueraded as 192.0.2.1 by the firewall.
local SNAT = { client = "10.0.0.5", server = "192.0.2.2", sport = 40000, dport = 21, nat = { client = "192.0.2.1" } }
-- DNAT: the public 192.0.2.2 is forwarded to the real server 10.0.0.9.
local DNAT = { client = "192.0.2.1", server = "192.0.2.2", sport = 40000, dport = 21, nat = { server = "10.0.0.9" } }

function Test_port_under_snat_is_rewritten(t)
  local c = session(SNAT)
  local d = c:send("original", "PORT 10,0,0,5,195,80\r\n")
  local e = one(t, d)
  t:eq(e.src, "192.0.2.2"); t:eq(e.dst, "192.0.2.1"); t:eq(e.dport, 50000)
  t:eq(e.nat_dir, "reply"); t:eq(e.nat_port, 50000)
  t:eq(d.packet, "PORT 192,0,2,1,195,80\r\n"); t:eq(d.checksums_ok, true)
end

function Test_eprt_under_snat_is_rewritten(t)
  local c = session(SNAT)
  local d = c:send("original", "EPRT |1|10.0.0.5|50001|\r\n")
  one(t, d)
  t:eq(d.packet, "EPRT |1|192.0.2.1|50001|\r\n")
end

function Test_pasv_under_dnat_is_rewritten(t)
  local c = session(DNAT)
  local d = c:send("reply", "227 Entering Passive Mode (10,0,0,9,4,1).\r\n")
  local e = one(t, d)
  t:eq(e.src, "192.0.2.1"); t:eq(e.dst, "192.0.2.2"); t:eq(e.dport, 1025)
  t:eq(e.nat_dir, "original"); t:eq(e.nat_port, 1025)
  t:eq(d.packet, "227 Entering Passive Mode (192,0,2,2,4,1).\r\n")
end

function Test_epsv_under_dnat_keeps_the_text(t)
  local c = session(DNAT)
  local d = c:send("reply", "229 Entering Extended Passive Mode (|||6446|)\r\n")
  local e = one(t, d)
  t:eq(e.nat_dir, "original"); t:eq(e.nat_port, 6446)
  t:eq(d.packet, "229 Entering Extended Passive Mode (|||6446|)\r\n")
end

function Test_no_rewrite_without_nat(t)
  local c = session(V4)
  local d = c:send("original", "PORT 192,0,2,1,195,80\r\n")
  t:eq(d.packet, nil); t:eq(d.expectations[1].nat_dir, nil)
end

-- Port hunting: another connection (a second client behind the same
-- masquerade) already expects the announced port on the public address.
function Test_port_hunting_under_snat(t)
  local h = testing.load("helper.lua")
  h:occupy{ src = "192.0.2.2", dst = "192.0.2.1", dport = 50000 }
  local c = session(SNAT, h)
  local d = c:send("original", "PORT 10,0,0,5,195,80\r\n")
  local e = one(t, d)
  t:eq(e.inserted, true)
  t:eq(e.nat_port, 50000, "the data connection still goes to the client's real port")
  if e.dport <= 50000 then t:errorf("hunted port " .. e.dport .. " is not above 50000") end
  t:eq(d.packet, string.format("PORT 192,0,2,1,%d,%d\r\n", math.floor(e.dport / 256), e.dport % 256))
  t:eq(d.checksums_ok, true)
end

function Test_epsv_hunting_under_dnat(t)
  local h = testing.load("helper.lua")
  h:occupy{ src = "192.0.2.1", dst = "192.0.2.2", dport = 6446 }
  local c = session(DNAT, h)
  local d = c:send("reply", "229 Entering Extended Passive Mode (|||6446|)\r\n")
  local e = one(t, d)
  t:eq(e.nat_port, 6446)
  if e.dport == 6446 then t:errorf("the occupied port was used") end
  t:eq(d.packet, "229 Entering Extended Passive Mode (|||" .. e.dport .. "|)\r\n")
end

function Test_all_ports_taken_drops_the_command(t)
  local h = testing.load("helper.lua")
  for p = 65530, 65535 do h:occupy{ src = "192.0.2.2", dst = "192.0.2.1", dport = p } end
  local c = session(SNAT, h)
  local d = c:send("original", "PORT 10,0,0,5,255,250\r\n")
  t:eq(d.verdict, "drop"); t:eq(#d.expectations, 0); t:eq(d.packet, nil)
  t:eq(d.logs[#d.logs].msg, "no port for the data connection, dropping the command")
end
