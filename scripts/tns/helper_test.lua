-- Tests of the tns helper, run by scripts_test.go (go test ./scripts/).
local testing = require("ctlua.testing")

local function be16(n) return string.char(math.floor(n / 256) % 256, n % 256) end
-- redirect is a TNS REDIRECT packet carrying data; empty_redirect one
-- whose data follows in a DATA packet (data flags 0).
local function redirect(data) return be16(10 + #data) .. "\0\0\5\0\0\0" .. be16(#data) .. data end
local function empty_redirect(n) return "\0\10\0\0\5\0\0\0" .. be16(n or 0) end
local function data(d, flags) return be16(10 + #d) .. "\0\0\6\0\0\0" .. be16(flags or 0) .. d end
local function desc(host, port) return "(DESCRIPTION=(ADDRESS=(PROTOCOL=tcp)(HOST=" .. host .. ")(PORT=" .. port .. ")))" end
local CONNECT = "\0\58\0\0\1\0\0\0\1\57\1\44\0\0\8\0\127\255\127\8\0\0\1\0\0\32\0\58"

local V4 = { client = "192.0.2.1", server = "192.0.2.2", sport = 40000, dport = 1521 }
local V6 = { client = "2001:db8::1", server = "2001:db8::2", sport = 40000, dport = 1521 }

function Test_redirect_expects_the_address(t)
  local c = testing.load("helper.lua"):conn(V4)
  t:eq(#c:send("original", CONNECT).expectations, 0)
  local d = c:send("reply", redirect(desc("192.0.2.7", 40123)))
  t:eq(d.error, nil); t:eq(#d.expectations, 1)
  local e = d.expectations[1] or {}
  -- conntrackd: client -> HOST:PORT, any source port, TCP, not permanent
  t:eq(e.src, "192.0.2.1"); t:eq(e.dst, "192.0.2.7"); t:eq(e.dport, 40123); t:eq(e.mask_sport, 0)
  t:eq(e.l4, "tcp"); t:eq(e.permanent, false); t:eq(e.policy, "tns"); t:eq(e.inserted, true)
end

-- The data of an empty REDIRECT comes in the next DATA packet.
function Test_redirect_data_in_the_next_data_packet(t)
  for _, first in ipairs({ empty_redirect(0), empty_redirect(58) }) do
    local c = testing.load("helper.lua"):conn(V4)
    t:eq(#c:send("reply", first).expectations, 0)
    local d = c:send("reply", data(desc("192.0.2.2", 1522)))
    t:eq(#d.expectations, 1); t:eq((d.expectations[1] or {}).dport, 1522)
  end
  -- only the very next packet
  local c = testing.load("helper.lua"):conn(V4)
  c:send("reply", empty_redirect())
  c:send("reply", "\0\8\0\0\11\0\0\0") -- RESEND
  t:eq(#c:send("reply", data(desc("192.0.2.2", 1522))).expectations, 0)
  -- and never a DATA packet without a REDIRECT before it
  t:eq(#testing.load("helper.lua"):conn(V4):send("reply", data(desc("192.0.2.2", 1522))).expectations, 0)
end

function Test_ipv6_and_keywords_in_any_case(t)
  local c = testing.load("helper.lua"):conn(V6)
  local d = c:send("reply", redirect("(address=(protocol=tcp)(host=2001:DB8::7)(port=40123))"))
  t:eq(#d.expectations, 1)
  local e = d.expectations[1] or {}
  t:eq(e.dst, "2001:db8::7"); t:eq(e.dport, 40123)
  c = testing.load("helper.lua"):conn(V6)
  t:eq(#c:send("reply", redirect(desc("[2001:db8::2]", 1522))).expectations, 1, "bracketed")
end

-- Redirects that name nothing this helper can expect.
function Test_bad_redirects(t)
  local cases = {
    { "a host name", desc("db.example.net", 1522) },
    { "an octet over 255", desc("192.0.2.300", 1522) },
    { "three octets", desc("192.0.2", 1522) },
    { "port 0", desc("192.0.2.2", 0) },
    { "port over 65535", desc("192.0.2.2", 70000) },
    { "no port", "(ADDRESS=(PROTOCOL=tcp)(HOST=192.0.2.2))" },
    { "an IPv6 address on IPv4", desc("2001:db8::2", 1522) },
    { "no parenthesis", "HOST=192.0.2.2)(PORT=1522)" },
  }
  for _, tc in ipairs(cases) do
    local d = testing.load("helper.lua"):conn(V4):send("reply", redirect(tc[2]))
    t:eq(#d.expectations, 0, tc[1]); t:eq(d.verdict, "accept", tc[1]); t:eq(d.error, nil, tc[1])
  end
  -- the client's direction is never read
  t:eq(#testing.load("helper.lua"):conn(V4):send("original", redirect(desc("192.0.2.2", 1522))).expectations, 0)
end

-- Under NAT (the listener behind DNAT) the redirect to the listener's
-- host is rewritten to the address the client used and the hunted port;
-- the lengths follow.
function Test_nat_rewrites_the_redirect(t)
  local h = testing.load("helper.lua")
  h:occupy{ src = "192.0.2.1", dst = "203.0.113.1", dport = 1522 }
  local c = h:conn{ client = "192.0.2.1", server = "203.0.113.1", sport = 40000, dport = 1521, nat = { server = "198.51.100.2" } }
  local d = c:send("reply", redirect(desc("198.51.100.2", 1522)))
  t:eq(#d.expectations, 1)
  local e = d.expectations[1] or {}
  t:eq(e.dst, "203.0.113.1"); t:eq(e.nat_dir, "original"); t:eq(e.nat_port, 1522)
  if e.dport == 1522 then t:errorf("the port was not hunted") end
  local want = redirect(desc("203.0.113.1", e.dport))
  t:eq(d.packet, want:sub(1, 2) .. "\0\0" .. want:sub(5, 6) .. "\0\0" .. want:sub(9)); t:eq(d.checksums_ok, true)
  -- a redirect to another host is expected as it stands
  local c2 = testing.load("helper.lua"):conn{ client = "192.0.2.1", server = "203.0.113.1", sport = 40001, dport = 1521, nat = { server = "198.51.100.2" } }
  d = c2:send("reply", redirect(desc("198.51.100.9", 1522)))
  t:eq(#d.expectations, 1); t:eq((d.expectations[1] or {}).dst, "198.51.100.9"); t:eq(d.packet, nil)
end
