-- Tests of the tftp helper, run by scripts_test.go (go test ./scripts/).
local testing = require("ctlua.testing")

local V4 = { client = "192.0.2.1", server = "192.0.2.2", sport = 40000, dport = 69, l4 = "udp" }
local V6 = { client = "2001:db8::1", server = "2001:db8::2", sport = 40000, dport = 69, l4 = "udp" }

function Test_read_request(t)
  for _, conn in ipairs({ V4, V6 }) do
    local c = testing.load("helper.lua"):conn(conn)
    local d = c:send("original", "\0\1hello.txt\0octet\0", { ctinfo = "new" })
    t:eq(d.error, nil)
    t:eq(#d.expectations, 1)
    local e = d.expectations[1] or {}
    t:eq(e.src, conn.server); t:eq(e.dst, conn.client)
    t:eq(e.sport, 0); t:eq(e.mask_sport, 0); t:eq(e.dport, 40000); t:eq(e.mask_dport, 65535)
    t:eq(e.l4, "udp"); t:eq(e.policy, "tftp"); t:eq(e.nat_dir, nil)
  end
end

function Test_write_request(t)
  local c = testing.load("helper.lua"):conn(V4)
  local d = c:send("original", "\0\2up.bin\0octet\0", { ctinfo = "new" })
  t:eq(#d.expectations, 1)
end

function Test_other_opcodes_and_short_packets(t)
  local c = testing.load("helper.lua"):conn(V4)
  for _, p in ipairs({ "\0\3\0\1data", "\0\4\0\1", "\0\5\0\1oops\0", "\0", "" }) do
    local d = c:send("reply", p)
    t:eq(#d.expectations, 0); t:eq(d.verdict, "accept"); t:eq(d.error, nil)
  end
end

function Test_nat_follows_master(t)
  -- The client 10.0.0.5:40000 is masqueraded as 192.0.2.1 by the firewall.
  local c = testing.load("helper.lua"):conn{ client = "10.0.0.5", server = "192.0.2.2", sport = 40000,
    dport = 69, l4 = "udp", nat = { client = "192.0.2.1" } }
  local d = c:send("original", "\0\1f\0octet\0", { ctinfo = "new" })
  local e = d.expectations[1] or {}
  t:eq(e.src, "192.0.2.2"); t:eq(e.dst, "192.0.2.1"); t:eq(e.dport, 40000)
  t:eq(e.nat_dir, "reply"); t:eq(e.nat_port, 40000)
end

function Test_retransmitted_request(t)
  -- A retransmitted request (same client port, same master connection)
  -- expects the same flow again: the conntrack replaces the pending
  -- expectation, as the kernel does (tests/oracle: retransmit captures).
  local c = testing.load("helper.lua"):conn(V4)
  local first = c:send("original", "\0\1a.txt\0octet\0", { ctinfo = "new" })
  local again = c:send("original", "\0\1a.txt\0octet\0")
  t:eq(#first.expectations, 1); t:eq(#again.expectations, 1)
  local a, b = first.expectations[1] or {}, again.expectations[1] or {}
  t:eq(b.src, a.src); t:eq(b.dst, a.dst); t:eq(b.dport, a.dport); t:eq(b.dport, 40000)
end

function Test_options_are_ignored(t)
  -- RFC 2347 options after the mode (curl sends tsize, blksize, timeout)
  -- change nothing; the OACK the server answers with is not a request.
  local c = testing.load("helper.lua"):conn(V6)
  local d = c:send("original", "\0\2up.bin\0octet\0tsize\0209\0blksize\0512\0timeout\0003\0", { ctinfo = "new" })
  t:eq(#d.expectations, 1)
  t:eq((d.expectations[1] or {}).dst, "2001:db8::1")
  d = c:send("reply", "\0\6tsize\0209\0")
  t:eq(#d.expectations, 0)
end
