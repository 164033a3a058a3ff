-- Tests of the ssdp-event helper, run by scripts_test.go (go test ./scripts/).
local testing = require("ctlua.testing")

-- notify is the device's NOTIFY connection to the control point's
-- callback, which the ssdp helper's SUBSCRIBE expectation created.
local function notify(device, cp)
  return testing.load("helper.lua"):conn{ client = device or "192.0.2.2", server = cp or "192.0.2.1",
    sport = 40148, dport = 8000, related = true }
end
local NOTIFY = "NOTIFY /evt HTTP/1.1\r\nHOST: 192.0.2.1:8000\r\nNT: upnp:event\r\nNTS: upnp:propchange\r\nSEQ: 0\r\n\r\n"

function Test_notify_expects_the_next_connection(t)
  for _, case in ipairs({ { "192.0.2.2", "192.0.2.1" }, { "2001:db8::2", "2001:db8::1" } }) do
    local d = notify(case[1], case[2]):send("original", NOTIFY)
    t:eq(d.error, nil); t:eq(#d.expectations, 1)
    local e = d.expectations[1] or {}
    -- conntrackd: the connection's addresses and destination port, any
    -- source port, not permanent, with this helper again
    t:eq(e.src, case[1]); t:eq(e.mask_sport, 0); t:eq(e.dst, case[2]); t:eq(e.dport, 8000)
    t:eq(e.l4, "tcp"); t:eq(e.permanent, false); t:eq(e.helper, "ssdp-event"); t:eq(e.policy, "ssdp-event")
  end
end

function Test_the_answer_and_other_requests_expect_nothing(t)
  local c = notify()
  t:eq(#c:send("reply", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").expectations, 0)
  t:eq(#c:send("original", "notify /evt HTTP/1.1\r\n\r\n").expectations, 0)
  t:eq(#c:send("original", "<e:propertyset/>").expectations, 0)
end
