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

-- http is the control point's connection to the device's HTTP port (a
-- LOCATION connection, which the ssdp helper's expectation handed to this
-- helper).
local function http(cp, device)
  return testing.load("helper.lua"):conn{ client = cp or "192.0.2.1", server = device or "192.0.2.2",
    sport = 40000, dport = 5000, l4 = "tcp", related = true }
end
local function subscribe(callback)
  return "SUBSCRIBE /evt/IPConn HTTP/1.1\r\nHOST: 192.0.2.2:5000\r\n" .. callback ..
    "\r\nNT: upnp:event\r\nTIMEOUT: Second-300\r\n\r\n"
end

function Test_subscribe_expects_the_notify_connections(t)
  for _, case in ipairs({
    { "192.0.2.1", "192.0.2.2", "CALLBACK: <http://192.0.2.1:8000/evt>", 8000 },
    { "192.0.2.1", "192.0.2.2", "Callback:<http://192.0.2.1/>", 80 },
    { "2001:db8::1", "2001:db8::2", "CALLBACK: <http://[2001:db8::1]:49200/e><http://192.0.2.1:1/>", 49200 },
  }) do
    local d = http(case[1], case[2]):send("original", subscribe(case[3]))
    t:eq(d.error, nil); t:eq(#d.expectations, 1, case[3])
    local e = d.expectations[1] or {}
    -- conntrackd: from the device (any port) to the subscriber, the
    -- callback port; TCP, not permanent, with this helper for the NOTIFY
    t:eq(e.src, case[2]); t:eq(e.mask_sport, 0); t:eq(e.dst, case[1]); t:eq(e.dport, case[4])
    t:eq(e.l4, "tcp"); t:eq(e.permanent, false); t:eq(e.helper, "ssdp-event"); t:eq(e.policy, "ssdp-event")
  end
end

function Test_callbacks_that_expect_nothing(t)
  for _, cb in ipairs({
    "CALLBACK: <http://192.0.2.9:8000/>",     -- another host (conntrackd's check)
    "CALLBACK: <http://cp.local:8000/>",      -- a name
    "CALLBACK: http://192.0.2.1:8000/",       -- no "<"
    "CALLBACK: <http://[2001:db8::1]:8000/>", -- another family
    "NT: upnp:event",                         -- no callback at all
  }) do
    local d = http():send("original", subscribe(cb))
    t:eq(#d.expectations, 0, cb); t:eq(d.verdict, "accept"); t:eq(d.error, nil)
  end
end

function Test_other_requests_and_the_device_answers(t)
  local c = http()
  t:eq(#c:send("original", "GET /rootDesc.xml HTTP/1.1\r\nHOST: 192.0.2.2:5000\r\n\r\n").expectations, 0)
  t:eq(#c:send("reply", "HTTP/1.1 200 OK\r\nLOCATION: http://192.0.2.2:5000/\r\n\r\n").expectations, 0)
  -- a SUBSCRIBE in the reply direction is not the subscriber's
  t:eq(#c:send("reply", subscribe("CALLBACK: <http://192.0.2.2:8000/>")).expectations, 0)
end
