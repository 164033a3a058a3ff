-- Tests of the mdns helper, run by scripts_test.go (go test ./scripts/).
local testing = require("ctlua.testing")

-- A legacy unicast query (RFC 6762 section 6.7: from an ephemeral port)
-- for mcsrv.local's A record, as tests/e2e/mcast.py sends it.
local QUERY = "BB\0\0\0\1\0\0\0\0\0\0\5mcsrv\5local\0\0\1\0\1"
local V4 = { client = "192.0.2.1", server = "224.0.0.251", sport = 40000, dport = 5353, l4 = "udp" }
local V6 = { client = "fe80::1", server = "ff02::fb", sport = 5353, dport = 5353, l4 = "udp" }

function Test_query_expects_answers_from_any_host(t)
  for _, q in ipairs({ V4, V6 }) do
    local c = testing.load("helper.lua"):conn(q)
    local d = c:send("original", QUERY, { ctinfo = "new" })
    t:eq(d.error, nil); t:eq(d.verdict, "accept"); t:eq(#d.expectations, 1)
    local e = d.expectations[1] or {}
    -- conntrackd: any source address, source port = the query's destination
    -- port, destination = the querier and its port; UDP, permanent
    t:eq(e.mask_src, q.client:find(":") and "::" or "0.0.0.0", "mask_src")
    t:eq(e.sport, 5353); t:eq(e.mask_sport, 65535)
    t:eq(e.dst, q.client); t:eq(e.dport, q.sport); t:eq(e.mask_dport, 65535)
    t:eq(e.l4, "udp"); t:eq(e.permanent, true); t:eq(e.policy, "mdns"); t:eq(e.class, 0)
  end
end

function Test_every_query_expects_again(t)
  -- A querier retransmits from the same socket: the same connection, whose
  -- expectation each query renews (the conntrack replaces the equal one).
  local c = testing.load("helper.lua"):conn(V4)
  t:eq(#c:send("original", QUERY, { ctinfo = "new" }).expectations, 1)
  t:eq(#c:send("original", QUERY, { ctinfo = "new" }).expectations, 1)
end

function Test_unicast_query_on_another_port(t)
  -- conntrackd looks neither at the destination nor at the payload.
  local c = testing.load("helper.lua"):conn{ client = "2001:db8::1", server = "2001:db8::2", sport = 41000, dport = 5353, l4 = "udp" }
  local e = c:send("original", QUERY, { ctinfo = "new" }).expectations[1] or {}
  t:eq(e.dst, "2001:db8::1"); t:eq(e.dport, 41000); t:eq(e.sport, 5353)
end

function Test_answers_in_the_reply_direction_expect_nothing(t)
  -- conntrackd expects here too, from any host to the answering host (see
  -- README: Differences from conntrackd).
  local c = testing.load("helper.lua"):conn{ client = "192.0.2.1", server = "192.0.2.2", sport = 40000, dport = 5353, l4 = "udp" }
  c:send("original", QUERY, { ctinfo = "new" })
  local d = c:send("reply", QUERY)
  t:eq(#d.expectations, 0); t:eq(d.verdict, "accept")
end

function Test_nat_expects_the_translated_querier(t)
  -- The answers reach the address the query left with.
  local c = testing.load("helper.lua"):conn{ client = "10.0.0.5", server = "224.0.0.251", sport = 40000, dport = 5353,
    l4 = "udp", nat = { client = "192.0.2.1" } }
  local e = c:send("original", QUERY, { ctinfo = "new" }).expectations[1] or {}
  t:eq(e.dst, "192.0.2.1"); t:eq(e.dport, 40000); t:eq(e.nat_dir, nil)
end
