-- Tests of the sane helper, run by scripts_test.go (go test ./scripts/).
local testing = require("ctlua.testing")

local V4 = { client = "192.0.2.1", server = "192.0.2.2", sport = 40000, dport = 6566 }
local V6 = { client = "2001:db8::1", server = "2001:db8::2", sport = 40000, dport = 6566 }

local function word(n) return string.char(math.floor(n / 16777216) % 256, math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256) end
local START = word(7) .. word(1)           -- SANE_NET_START, handle 1
local function reply(status, portword) return word(status) .. word(portword) .. word(0) .. word(0) .. "\0\0\0\0" end

function Test_start_reply_expects_the_data_port(t)
  for _, conn in ipairs({ V4, V6 }) do
    local c = testing.load("helper.lua"):conn(conn)
    t:eq(#c:send("original", START).expectations, 0)
    local d = c:send("reply", reply(0, 50001))
    t:eq(d.error, nil); t:eq(#d.expectations, 1)
    local e = d.expectations[1] or {}
    -- kernel: orig.src -> orig.dst:port, full masks, any source port
    t:eq(e.src, conn.client); t:eq(e.dst, conn.server); t:eq(e.dport, 50001)
    t:eq(e.mask_sport, 0); t:eq(e.mask_dport, 65535); t:eq(e.l4, "tcp"); t:eq(e.policy, "sane"); t:eq(e.class, 0)
    t:eq(e.inserted, true)
  end
end

-- Only the reply right after a START request counts, and only once.
function Test_other_replies_are_ignored(t)
  local c = testing.load("helper.lua"):conn(V4)
  t:eq(#c:send("reply", reply(0, 50001)).expectations, 0, "no request yet")
  c:send("original", word(4) .. word(1)) -- SANE_NET_GET_OPTION_DESCRIPTORS
  t:eq(#c:send("reply", reply(0, 50001)).expectations, 0, "reply to another request")
  c:send("original", START)
  t:eq(#c:send("reply", reply(0, 50001)).expectations, 1, "reply to START")
  t:eq(#c:send("reply", reply(0, 50002)).expectations, 0, "a second reply")
end

function Test_refused_or_invalid_replies(t)
  local cases = {
    { "status not good", reply(9, 50001) },
    { "port word with a high half", reply(0, 65536 + 50001) },
    { "too short", word(0) .. "\0" },
  }
  for _, tc in ipairs(cases) do
    local c = testing.load("helper.lua"):conn(V4)
    c:send("original", START)
    local d = c:send("reply", tc[2])
    t:eq(#d.expectations, 0, tc[1]); t:eq(d.verdict, "accept", tc[1]); t:eq(d.error, nil, tc[1])
  end
end

function Test_request_must_be_8_bytes(t)
  local c = testing.load("helper.lua"):conn(V4)
  c:send("original", START .. "x")
  t:eq(#c:send("reply", reply(0, 50001)).expectations, 0)
end

-- A request other than START after START forgets it, like the kernel.
function Test_later_request_resets(t)
  local c = testing.load("helper.lua"):conn(V4)
  c:send("original", START)
  c:send("original", word(3) .. word(1)) -- SANE_NET_CLOSE
  t:eq(#c:send("reply", reply(0, 50001)).expectations, 0)
end

function Test_new_packets_are_not_examined(t)
  local c = testing.load("helper.lua"):conn(V4)
  c:send("original", START, { ctinfo = "new" })
  t:eq(#c:send("reply", reply(0, 50001)).expectations, 0)
end

function Test_refused_expectation_drops(t)
  local h = testing.load("helper.lua")
  h:occupy{ src = "192.0.2.1", dst = "192.0.2.2", dport = 50001 }
  local c = h:conn(V4)
  c:send("original", START)
  t:eq(c:send("reply", reply(0, 50001)).verdict, "drop")
end
