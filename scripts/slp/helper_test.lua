-- Tests of the slp helper, run by scripts_test.go (go test ./scripts/).
local testing = require("ctlua.testing")

-- An SLPv2 SrvRqst (RFC 2608) for service:printer, scope DEFAULT, with
-- the request-multicast flag, as tests/e2e/mcast.py sends it.
local SRVRQST = "\2\1\0\0\48\32\0\0\0\0\18\52\0\2en\0\0\0\15service:printer\0\7DEFAULT\0\0\0\0"
local V4 = { client = "192.0.2.1", server = "239.255.255.253", sport = 40000, dport = 427, l4 = "udp" }
local V6 = { client = "fe80::1", server = "ff02::116", sport = 40000, dport = 427, l4 = "udp" }

function Test_request_expects_answers_from_any_agent(t)
  for _, q in ipairs({ V4, V6 }) do
    local c = testing.load("helper.lua"):conn(q)
    local d = c:send("original", SRVRQST, { ctinfo = "new" })
    t:eq(d.error, nil); t:eq(d.verdict, "accept"); t:eq(#d.expectations, 1)
    local e = d.expectations[1] or {}
    -- conntrackd: any source address, source port 427 (the request's
    -- destination port), destination = the requester and its port
    t:eq(e.mask_src, q.client:find(":") and "::" or "0.0.0.0", "mask_src")
    t:eq(e.sport, 427); t:eq(e.mask_sport, 65535)
    t:eq(e.dst, q.client); t:eq(e.dport, 40000); t:eq(e.mask_dport, 65535)
    t:eq(e.l4, "udp"); t:eq(e.permanent, true); t:eq(e.policy, "slp"); t:eq(e.class, 0)
  end
end

function Test_broadcast_request(t)
  -- RFC 2608 allows broadcast where multicast is not available;
  -- conntrackd does not look at the destination, nor does the helper.
  local c = testing.load("helper.lua"):conn{ client = "192.0.2.1", server = "192.0.2.255", sport = 40000, dport = 427, l4 = "udp" }
  t:eq(#c:send("original", SRVRQST, { ctinfo = "new" }).expectations, 1)
end

function Test_retransmission_expects_again(t)
  local c = testing.load("helper.lua"):conn(V4)
  t:eq(#c:send("original", SRVRQST, { ctinfo = "new" }).expectations, 1)
  t:eq(#c:send("original", SRVRQST, { ctinfo = "new" }).expectations, 1)
end

function Test_reply_direction_and_empty_datagrams_expect_nothing(t)
  local c = testing.load("helper.lua"):conn{ client = "192.0.2.1", server = "192.0.2.2", sport = 40000, dport = 427, l4 = "udp" }
  t:eq(#c:send("original", "", { ctinfo = "new" }).expectations, 0)
  t:eq(#c:send("reply", SRVRQST).expectations, 0)
end
