-- Tests of the irc helper, run by scripts_test.go (go test ./scripts/).
local testing = require("ctlua.testing")

local V4 = { client = "192.0.2.1", server = "192.0.2.2", sport = 40000, dport = 6667 }
local CLIENT = 3221225985 -- 192.0.2.1 as the decimal integer DCC uses

local function dcc(kind, arg)
  return "PRIVMSG bob :\1DCC " .. kind .. " " .. arg .. "\1\r\n"
end

local function one(t, d, what)
  t:eq(d.error, nil, what)
  t:eq(#d.expectations, 1, what)
  return d.expectations[1] or {}
end

function Test_send(t)
  local c = testing.load("helper.lua"):conn(V4)
  local e = one(t, c:send("original", dcc("SEND", "notes.txt " .. CLIENT .. " 50000 1234")))
  -- kernel: any source, destination = reply.dst (the client), TCP
  t:eq(e.mask_src, "0.0.0.0")
  t:eq(e.dst, "192.0.2.1"); t:eq(e.mask_dst, "255.255.255.255")
  t:eq(e.dport, 50000); t:eq(e.mask_dport, 65535); t:eq(e.mask_sport, 0)
  t:eq(e.l4, "tcp"); t:eq(e.policy, "irc"); t:eq(e.class, 0); t:eq(e.inserted, true)
end

function Test_every_dcc_type(t)
  for _, kind in ipairs({ "SEND", "CHAT", "MOVE", "TSEND", "SCHAT" }) do
    local c = testing.load("helper.lua"):conn(V4)
    local e = one(t, c:send("original", dcc(kind, "chat " .. CLIENT .. " 40001")), kind)
    t:eq(e.dport, 40001, kind)
  end
end

function Test_privmsg_any_case_and_leading_blanks(t)
  local c = testing.load("helper.lua"):conn(V4)
  one(t, c:send("original", "\r\n  privmsg bob :\1DCC CHAT chat " .. CLIENT .. " 40002\1\r\n"))
end

-- What the kernel does not read passes without an expectation.
function Test_ignored(t)
  local cases = {
    { "reply", dcc("SEND", "f " .. CLIENT .. " 50000 1") },          -- from the server
    { "original", "NOTICE bob :\1DCC SEND f " .. CLIENT .. " 50000 1\1\r\n" },
    { "original", "PRIVMSG bob :hello \1DCC SEND f " .. CLIENT .. " 50000\1\r\n" }, -- first " :" is not DCC
    { "original", "PRIVMSG bob :\1DCC send f " .. CLIENT .. " 50000 1\1\r\n" },  -- type is case-sensitive
    { "original", "PRIVMSG bob :\1DCC RESUME f 50000 1000\1\r\n" },   -- not a type the kernel reads
    { "original", dcc("SEND", "f 3325256711 50000 1") },             -- 198.51.100.7: forged
    { "original", dcc("SEND", "f " .. CLIENT .. " 0 1") },           -- port 0
    { "original", dcc("SEND", "f " .. CLIENT .. " 70000 1") },       -- port over 65535
    { "original", "PRIVMSG bob :\1DCC SEND f " .. CLIENT .. " 50000 1\1" }, -- no newline
    { "original", dcc("SEND", "\"my file\" " .. CLIENT .. " 50000 1") }, -- quoted name: address reads 0
    { "original", "PRIVMSG bob :\1DCC CHAT c 1 2\1\r\n" },            -- too short for the kernel
  }
  for _, tc in ipairs(cases) do
    local c = testing.load("helper.lua"):conn(V4)
    local d = c:send(tc[1], tc[2])
    t:eq(d.verdict, "accept", tc[2]); t:eq(#d.expectations, 0, tc[2]); t:eq(d.error, nil, tc[2])
  end
end

function Test_new_connection_is_not_examined(t)
  local c = testing.load("helper.lua"):conn(V4)
  local d = c:send("original", dcc("SEND", "f " .. CLIENT .. " 50000 1"), { ctinfo = "new" })
  t:eq(#d.expectations, 0)
end

-- An unknown type before a known one: the kernel goes on to the next " :".
function Test_unknown_type_then_next(t)
  local c = testing.load("helper.lua"):conn(V4)
  local e = one(t, c:send("original", "PRIVMSG bob :\1DCC RESUME x :\1DCC CHAT chat " .. CLIENT .. " 40003\1\r\n"))
  t:eq(e.dport, 40003)
end

function Test_refused_expectation_drops(t)
  local h = testing.load("helper.lua")
  h:occupy{ src = "192.0.2.9", dst = "192.0.2.1", dport = 50000 }
  local d = h:conn(V4):send("original", dcc("SEND", "f " .. CLIENT .. " 50000 1"))
  t:eq(d.verdict, "drop")
end

-- Like nf_nat_irc: the address becomes the translated client address,
-- the expectation follows the master's NAT back to the announced port.
function Test_snat_rewrites_address_and_port(t)
  local c = testing.load("helper.lua"):conn{ client = "10.0.0.5", server = "192.0.2.2", sport = 40000, dport = 6667,
    nat = { client = "198.51.100.1" } }
  local private = 167772165 -- 10.0.0.5
  local e = one(t, c:send("original", dcc("SEND", "f.bin " .. private .. " 50000 77")))
  t:eq(e.dst, "198.51.100.1"); t:eq(e.dport, 50000)
  t:eq(e.nat_dir, "reply"); t:eq(e.nat_port, 50000)
  local d = c:send("original", dcc("CHAT", "chat " .. private .. " 50001"))
  t:eq(d.packet, "PRIVMSG bob :\1DCC CHAT chat 3325256705 50001\1\r\n")
  t:eq(d.checksums_ok, true)
end

function Test_nat_address_already_translated_is_accepted(t)
  local c = testing.load("helper.lua"):conn{ client = "10.0.0.5", server = "192.0.2.2", sport = 40000, dport = 6667,
    nat = { client = "198.51.100.1" } }
  one(t, c:send("original", dcc("SEND", "f 3325256705 50000 1")))
end

function Test_nat_hunts_a_free_port(t)
  local h = testing.load("helper.lua")
  h:occupy{ src = "192.0.2.9", dst = "198.51.100.1", dport = 50000 }
  local c = h:conn{ client = "10.0.0.5", server = "192.0.2.2", sport = 40000, dport = 6667, nat = { client = "198.51.100.1" } }
  local d = c:send("original", dcc("SEND", "f 167772165 50000 1"))
  local e = one(t, d)
  t:eq(e.nat_port, 50000)
  t:eq(e.dport ~= 50000, true, "hunted port")
  t:eq(d.packet, "PRIVMSG bob :\1DCC SEND f 3325256705 " .. e.dport .. " 1\1\r\n")
end
