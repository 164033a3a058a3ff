-- Tests of the ssdp helper, run by scripts_test.go (go test ./scripts/).
local testing = require("ctlua.testing")

local SEARCH = "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nST: ssdp:all\r\nMAN: \"ssdp:discover\"\r\nMX: 2\r\n\r\n"
local V4 = { client = "192.0.2.1", server = "239.255.255.250", sport = 40000, dport = 1900, l4 = "udp" }
local V6 = { client = "fe80::1", server = "ff02::c", sport = 40000, dport = 1900, l4 = "udp" }
-- answer is a device's answer naming its description at url.
local function answer(url)
  return "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: upnp:rootdevice\r\nEXT:\r\n" ..
    "LOCATION: " .. url .. "\r\nUSN: uuid:1::upnp:rootdevice\r\n\r\n"
end

function Test_search_expects_answers_from_any_device(t)
  for _, q in ipairs({ V4, V6, { client = "2001:db8::1", server = "ff05::c", sport = 1900, dport = 1900, l4 = "udp" } }) do
    local c = testing.load("helper.lua"):conn(q)
    local d = c:send("original", SEARCH, { ctinfo = "new" })
    t:eq(d.error, nil); t:eq(d.verdict, "accept"); t:eq(#d.expectations, 1, q.server)
    local e = d.expectations[1] or {}
    -- conntrackd: any source address and port, the control point and its
    -- port; UDP, permanent, with the ssdp helper for the answers' LOCATION
    t:eq(e.mask_src, q.client:find(":") and "::" or "0.0.0.0"); t:eq(e.mask_sport, 0)
    t:eq(e.dst, q.client); t:eq(e.dport, q.sport); t:eq(e.mask_dport, 65535)
    t:eq(e.l4, "udp"); t:eq(e.permanent, true); t:eq(e.helper, "ssdp"); t:eq(e.policy, "ssdp")
  end
end

function Test_not_a_search_or_not_to_the_group(t)
  local notify = "NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nNTS: ssdp:alive\r\n\r\n"
  for _, case in ipairs({
    { V4, notify }, { V4, "m-search * HTTP/1.1\r\n\r\n" }, { V4, "M-SEAR" },
    { { client = "192.0.2.1", server = "192.0.2.2", sport = 40000, dport = 1900, l4 = "udp" }, SEARCH },
    { { client = "fe80::1", server = "ff02::1", sport = 40000, dport = 1900, l4 = "udp" }, SEARCH },
  }) do
    local c = testing.load("helper.lua"):conn(case[1])
    local d = c:send("original", case[2], { ctinfo = "new" })
    t:eq(#d.expectations, 0, case[1].server .. " " .. case[2]:sub(1, 8)); t:eq(d.verdict, "accept")
  end
end

-- related is the connection of a device's answer, which the search's
-- expectation created (its first packet is "related").
local function related(q)
  return testing.load("helper.lua"):conn{ client = q.device, server = q.cp, sport = 1900, dport = 40000, l4 = "udp", related = true }
end

function Test_answer_expects_the_location_connection(t)
  for _, case in ipairs({
    { device = "192.0.2.2", cp = "192.0.2.1", url = "http://192.0.2.2:5000/rootDesc.xml", addr = "192.0.2.2", port = 5000 },
    { device = "192.0.2.2", cp = "192.0.2.1", url = "http://192.0.2.9/desc.xml", addr = "192.0.2.9", port = 80 },
    { device = "fe80::2", cp = "fe80::1", url = "http://[fe80::2]:49152/description.xml", addr = "fe80::2", port = 49152 },
  }) do
    local c = related(case)
    local d = c:send("original", answer(case.url), { ctinfo = "related" })
    t:eq(d.error, nil); t:eq(#d.expectations, 1, case.url)
    local e = d.expectations[1] or {}
    -- conntrackd: TCP from any address and port to the URL's address and port
    t:eq(e.l4, "tcp"); t:eq(e.dst, case.addr); t:eq(e.dport, case.port); t:eq(e.mask_dport, 65535)
    t:eq(e.mask_sport, 0); t:eq(e.mask_src, case.addr:find(":") and "::" or "0.0.0.0"); t:eq(e.permanent, true)
    -- no helper by default
    t:eq(e.helper or "", "")
  end
  -- location_helper names the helper of the LOCATION connections
  local c = testing.load("helper.lua", { location_helper = "ssdp-event" }):conn{ client = "192.0.2.2",
    server = "192.0.2.1", sport = 1900, dport = 40000, l4 = "udp", related = true }
  local e = c:send("original", answer("http://192.0.2.2:5000/d.xml"), { ctinfo = "related" }).expectations[1] or {}
  t:eq(e.helper, "ssdp-event"); t:eq(e.l4, "tcp")
end

function Test_location_header_spellings(t)
  local q = { device = "192.0.2.2", cp = "192.0.2.1" }
  for _, h in ipairs({ "Location: ", "location:", "LOCATION:\t " }) do
    local d = related(q):send("original", "HTTP/1.1 200 OK\r\n" .. h .. "http://192.0.2.2:8080/d.xml\r\n\r\n", { ctinfo = "related" })
    local e = d.expectations[1] or {}
    t:eq(e.dport, 8080, h)
  end
end

function Test_bad_locations_expect_nothing(t)
  local q = { device = "192.0.2.2", cp = "192.0.2.1" }
  for _, url in ipairs({
    "https://192.0.2.2:443/d.xml", "http://device.local:5000/d.xml", "http://[2001:db8::2]:5000/d.xml",
    "http://192.0.2.2:0/d.xml", "http://192.0.2.2:70000/d.xml", "http://192.0.2.2:x/d.xml", "http://300.0.2.2/d.xml",
  }) do
    local d = related(q):send("original", answer(url), { ctinfo = "related" })
    t:eq(#d.expectations, 0, url); t:eq(d.verdict, "accept"); t:eq(d.error, nil)
  end
  -- a LOCATION in the body, after the empty line, is not a header
  local d = related(q):send("original", "HTTP/1.1 200 OK\r\n\r\nLOCATION: http://192.0.2.2:5000/\r\n", { ctinfo = "related" })
  t:eq(#d.expectations, 0)
end

function Test_search_under_nat_follows_the_master(t)
  -- The control point 10.0.0.5 searches through a firewall that
  -- masquerades it as 192.0.2.1 (a multicast router on the way).
  local c = testing.load("helper.lua"):conn{ client = "10.0.0.5", server = "239.255.255.250", sport = 40000, dport = 1900,
    l4 = "udp", nat = { client = "192.0.2.1" } }
  local e = c:send("original", SEARCH, { ctinfo = "new" }).expectations[1] or {}
  t:eq(e.dst, "192.0.2.1"); t:eq(e.dport, 40000); t:eq(e.nat_dir, "reply"); t:eq(e.nat_port, 40000)
end

