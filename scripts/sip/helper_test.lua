-- Tests of the sip helper, run by scripts_test.go (go test ./scripts/).
local testing = require("ctlua.testing")

local V4 = { client = "192.0.2.1", server = "192.0.2.2", sport = 5060, dport = 5060, l4 = "udp" }
local V6 = { client = "2001:db8::1", server = "2001:db8::2", sport = 5060, dport = 5060, l4 = "udp" }

-- msg builds a SIP message: start line, headers, and an SDP body.
local function msg(start, headers, body)
  local t = { start }
  for _, h in ipairs(headers) do t[#t + 1] = h end
  body = body or ""
  t[#t + 1] = "Content-Length: " .. #body
  return table.concat(t, "\r\n") .. "\r\n\r\n" .. body
end

local function sdp(addr, media, family)
  family = family or (addr:find(":", 1, true) and "IP6" or "IP4")
  local t = { "v=0", "o=- 1 1 IN " .. family .. " " .. addr, "s=-", "c=IN " .. family .. " " .. addr, "t=0 0" }
  for _, m in ipairs(media or { "audio 40000 RTP/AVP 0" }) do t[#t + 1] = "m=" .. m end
  return table.concat(t, "\r\n") .. "\r\n"
end

local function invite(cseq, body, method)
  method = method or "INVITE"
  return msg(method .. " sip:bob@192.0.2.2 SIP/2.0", { "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK" .. cseq,
    "From: <sip:alice@192.0.2.1>;tag=1", "To: <sip:bob@192.0.2.2>", "Call-ID: c1@192.0.2.1",
    "CSeq: " .. cseq .. " " .. method, "Contact: <sip:alice@192.0.2.1:5060>", "Content-Type: application/sdp" }, body)
end

local function reply(code, cseq, method, body)
  return msg("SIP/2.0 " .. code .. " X", { "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK" .. cseq,
    "From: <sip:alice@192.0.2.1>;tag=1", "To: <sip:bob@192.0.2.2>;tag=2", "Call-ID: c1@192.0.2.1",
    "CSeq: " .. cseq .. " " .. method, "Contact: <sip:bob@192.0.2.2>" }, body)
end

local function ports(es)
  local t = {}
  for _, e in ipairs(es) do t[#t + 1] = e.dst .. ":" .. e.dport .. "/" .. e.policy end
  return table.concat(t, " ")
end

function Test_invite_expects_rtp_and_rtcp(t)
  local c = testing.load("helper.lua"):conn(V4)
  local d = c:send("original", invite(1, sdp("192.0.2.1", { "audio 40000 RTP/AVP 0" })))
  t:eq(d.error, nil)
  t:eq(d.verdict, "accept")
  t:eq(ports(d.expectations), "192.0.2.1:40000/audio 192.0.2.1:40001/audio")
  local e = d.expectations[1] or {}
  -- kernel: src = the other side (reply.src), any source port, full masks
  t:eq(e.src, "192.0.2.2"); t:eq(e.mask_src, "255.255.255.255"); t:eq(e.mask_sport, 0)
  t:eq(e.mask_dport, 65535); t:eq(e.l4, "udp"); t:eq(e.class, 1); t:eq(e.permanent, false)
  local r = c:send("reply", reply(200, 1, "INVITE", sdp("192.0.2.2", { "audio 30000 RTP/AVP 0" })))
  t:eq(ports(r.expectations), "192.0.2.2:30000/audio 192.0.2.2:30001/audio")
  t:eq((r.expectations[1] or {}).src, "192.0.2.1")
  t:eq(#c:expectations(), 4)
end

function Test_ipv6(t)
  local c = testing.load("helper.lua"):conn(V6)
  local d = c:send("original", invite(1, sdp("2001:db8::1", { "audio 40000 RTP/AVP 0" })))
  t:eq(ports(d.expectations), "2001:db8::1:40000/audio 2001:db8::1:40001/audio")
  t:eq((d.expectations[1] or {}).src, "2001:db8::2")
  -- an IPv4 c= on an IPv6 connection is no address: nothing to expect with, dropped
  local x = c:send("original", invite(2, sdp("192.0.2.1")))
  t:eq(x.verdict, "drop")
end

function Test_media_classes_odd_port_and_limits(t)
  local c = testing.load("helper.lua"):conn(V4)
  local d = c:send("original", invite(1, sdp("192.0.2.1", { "audio 0 RTP/AVP 0", "application 9 TCP x",
    "video 40003 RTP/AVP 31", "image 40010 udptl t38", "audio 40020 RTP/AVP 0", "audio 40030 RTP/AVP 0" })))
  -- port 0 and unknown types are skipped; odd ports round down; at most three media
  t:eq(ports(d.expectations), "192.0.2.1:40002/video 192.0.2.1:40003/video 192.0.2.1:40010/image " ..
    "192.0.2.1:40011/image 192.0.2.1:40020/audio 192.0.2.1:40021/audio")
  t:eq((d.expectations[1] or {}).class, 2)
  t:eq((d.expectations[3] or {}).class, 3)
end

function Test_media_level_address_and_direct_media(t)
  local c = testing.load("helper.lua"):conn(V4)
  local body = "v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 40000 RTP/AVP 0\r\nc=IN IP4 198.51.100.7\r\nm=video 40002 RTP/AVP 31\r\n"
  -- a c= after an m= line is that media's: the audio's address is not the
  -- sender's (nothing expected), the video has none and takes the session's
  local d = c:send("original", invite(1, body))
  t:eq(ports(d.expectations), "192.0.2.1:40002/video 192.0.2.1:40003/video")
  local loose = testing.load("helper.lua", { sip_direct_media = false }):conn(V4)
  local l = loose:send("original", invite(1, body))
  t:eq(ports(l.expectations), "198.51.100.7:40000/audio 198.51.100.7:40001/audio 192.0.2.1:40002/video 192.0.2.1:40003/video")
  t:eq((l.expectations[1] or {}).mask_src, "0.0.0.0")
  t:eq((l.expectations[1] or {}).src, "0.0.0.0")
end

function Test_bad_sdp_is_dropped(t)
  local c = testing.load("helper.lua"):conn(V4)
  t:eq(c:send("original", invite(1, sdp("192.0.2.1", { "audio 80 RTP/AVP 0" }))).verdict, "drop")
  t:eq(c:send("original", invite(2, "v=0\r\nm=audio 40000 RTP/AVP 0\r\n")).verdict, "drop")
  local d = c:send("original", invite(3, "v=0\r\nm=audio 0 RTP/AVP 0\r\n"))
  t:eq(d.verdict, "accept"); t:eq(#d.expectations, 0)
end

function Test_reinvite_replaces_and_bye_removes(t)
  local c = testing.load("helper.lua"):conn(V4)
  c:send("original", invite(1, sdp("192.0.2.1", { "audio 40000 RTP/AVP 0" })))
  c:send("reply", reply(200, 1, "INVITE", sdp("192.0.2.2", { "audio 30000 RTP/AVP 0" })))
  local re = c:send("original", invite(2, sdp("192.0.2.1", { "audio 40100 RTP/AVP 0" })))
  t:eq(#re.removed, 4, "re-INVITE removes the call's media")
  t:eq(ports(c:expectations()), "192.0.2.1:40100/audio 192.0.2.1:40101/audio")
  local bye = c:send("reply", msg("BYE sip:alice@192.0.2.1 SIP/2.0", { "CSeq: 1 BYE", "Call-ID: c1@192.0.2.1" }))
  t:eq(#bye.removed, 2)
  t:eq(#c:expectations(), 0)
end

function Test_error_response_to_the_invite_removes(t)
  local c = testing.load("helper.lua"):conn(V4)
  c:send("original", invite(7, sdp("192.0.2.1")))
  local other = c:send("reply", reply(486, 6, "INVITE"))
  t:eq(#other.removed, 0, "an error for another CSeq keeps them")
  local d = c:send("reply", reply(487, 7, "INVITE"))
  t:eq(#d.removed, 2)
end

function Test_compact_headers_and_case(t)
  local c = testing.load("helper.lua"):conn(V4)
  local m = "invite sip:bob@192.0.2.2 SIP/2.0\r\nv: SIP/2.0/UDP 192.0.2.1\r\ncseq:\r\n 5 INVITE\r\nl: 40\r\n\r\n" ..
    sdp("192.0.2.1", { "audio 42000 RTP/AVP 0" })
  t:eq(ports(c:send("original", m).expectations), "192.0.2.1:42000/audio 192.0.2.1:42001/audio")
  local r = c:send("reply", "sip/2.0 183 Progress\r\nCSeq: 5 invite\r\n\r\n" .. sdp("192.0.2.2", { "audio 32000 RTP/AVP 0" }))
  t:eq(#r.expectations, 2)
end

function Test_malformed_messages(t)
  local c = testing.load("helper.lua"):conn(V4)
  t:eq(c:send("original", "INVITE sip:b@192.0.2.2 SIP/2.0\r\nCall-ID: x\r\n\r\n").verdict, "drop", "no CSeq")
  t:eq(c:send("reply", "SIP/2.0 abc\r\nCSeq: 1 INVITE\r\n\r\n").verdict, "drop", "no code")
  t:eq(c:send("original", "OPTIONS sip:b@192.0.2.2 SIP/2.0\r\n\r\n").verdict, "accept", "unhandled method")
  t:eq(c:send("original", "INVITEX sip:b SIP/2.0\r\n\r\n").verdict, "accept", "not INVITE")
end

local function register(cseq, contact, extra)
  local h = { "Via: SIP/2.0/UDP 192.0.2.1:5062;branch=z9hG4bKr" .. cseq, "From: <sip:alice@192.0.2.2>;tag=r",
    "To: <sip:alice@192.0.2.2>", "Call-ID: r1@192.0.2.1", "CSeq: " .. cseq .. " REGISTER", "Contact: " .. contact }
  for _, x in ipairs(extra or {}) do h[#h + 1] = x end
  return msg("REGISTER sip:192.0.2.2 SIP/2.0", h)
end

function Test_register_expects_incoming_calls(t)
  local c = testing.load("helper.lua"):conn({ client = "192.0.2.1", server = "192.0.2.2", sport = 5062, dport = 5060, l4 = "udp" })
  local d = c:send("original", register(1, "<sip:alice@192.0.2.1:5070>", { "Expires: 3600" }))
  t:eq(d.verdict, "accept")
  t:eq(#d.expectations, 1)
  local e = d.expectations[1] or {}
  t:eq(e.src, "192.0.2.2"); t:eq(e.dst, "192.0.2.1"); t:eq(e.dport, 5070); t:eq(e.mask_sport, 0)
  t:eq(e.policy, "signalling"); t:eq(e.class, 0); t:eq(e.permanent, true); t:eq(e.helper, "sip"); t:eq(e.l4, "udp")
  local ok = c:send("reply", reply(200, 1, "REGISTER"):gsub("Contact: <sip:bob@192.0.2.2>", "Contact: <sip:alice@192.0.2.1:5070>;expires=3600"))
  t:eq(#ok.removed, 0, "the registrar confirmed the binding")
  local gone = c:send("original", register(2, "<sip:alice@192.0.2.1:5070>", { "Expires: 0" }))
  t:eq(#gone.expectations, 0, "expires 0 expects nothing")
  local bye = c:send("reply", reply(200, 2, "REGISTER"))
  t:eq(#bye.removed, 1, "the binding is gone: the expectation too")
end

function Test_register_refused_and_not_expected(t)
  local h = testing.load("helper.lua")
  local c = h:conn(V4)
  c:send("original", register(1, "<sip:alice@192.0.2.1:5070;transport=udp>;expires=60"))
  t:eq(#c:expectations(), 1)
  t:eq(#c:send("reply", reply(401, 9, "REGISTER")).removed, 0, "another CSeq")
  t:eq(#c:send("reply", reply(401, 1, "REGISTER")).removed, 1, "refused")
  local third = h:conn(V4):send("original", register(1, "<sip:alice@198.51.100.9:5070>", { "Expires: 60" }))
  t:eq(#third.expectations, 0, "third-party registration")
  local tcp = h:conn(V4):send("original", register(1, "<sip:alice@192.0.2.1;transport=tcp>", { "Expires: 60" }))
  t:eq(#tcp.expectations, 0, "another transport than the connection's")
  local low = h:conn(V4):send("original", register(1, "<sip:alice@192.0.2.1:80>", { "Expires: 60" }))
  t:eq(low.verdict, "drop", "contact port below 1024")
  local name = h:conn(V4):send("original", register(1, "<sip:alice@host.example>, <sip:alice@192.0.2.1:5090>", { "Expires: 60" }))
  t:eq(ports(name.expectations), "192.0.2.1:5090/signalling", "a host name is skipped")
  local expected = h:conn({ client = "192.0.2.1", server = "192.0.2.2", sport = 5060, dport = 5060, l4 = "udp", related = true })
  t:eq(#expected:send("original", register(1, "<sip:alice@192.0.2.1:5070>", { "Expires: 60" })).expectations, 0,
    "an expected connection cannot register again")
end

function Test_direct_signalling_off(t)
  local c = testing.load("helper.lua", { sip_direct_signalling = false }):conn(V4)
  local e = c:send("original", register(1, "<sip:alice@192.0.2.1:5070>", { "Expires: 60" })).expectations[1] or {}
  t:eq(e.mask_src, "0.0.0.0")
end

-- NAT: alice 192.0.2.1 behind a masquerade 198.51.100.254 calls bob
-- 198.51.100.2 (SNAT), or calls 192.0.2.254, forwarded to bob (DNAT).
local SNAT = { client = "192.0.2.1", server = "198.51.100.2", sport = 5060, dport = 5060, l4 = "udp",
  nat = { client = "198.51.100.254" } }
local DNAT = { client = "192.0.2.1", server = "192.0.2.254", sport = 5060, dport = 5060, l4 = "udp",
  nat = { server = "198.51.100.2" } }

local function nat_invite(to, media_port)
  local body = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio " .. media_port ..
    " RTP/AVP 0\r\n"
  return msg("INVITE sip:bob@" .. to .. " SIP/2.0", { "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport",
    "From: <sip:alice@192.0.2.1>;tag=1", "To: <sip:bob@" .. to .. ">", "Call-ID: n1", "CSeq: 1 INVITE",
    "Contact: <sip:alice@192.0.2.1:5060>", "Content-Type: application/sdp" }, body)
end

local function header_of(m, name)
  return m and m:match("\r\n" .. name .. ": ([^\r\n]*)") or nil
end

function Test_snat_rewrites_the_invite(t)
  local c = testing.load("helper.lua"):conn(SNAT)
  local d = c:send("original", nat_invite("198.51.100.2", 40000))
  t:eq(d.error, nil)
  t:eq(d.checksums_ok, true)
  local m = d.packet or ""
  t:eq(header_of(m, "Via"), "SIP/2.0/UDP 198.51.100.254:5060;branch=z9hG4bK1;rport")
  t:eq(header_of(m, "Contact"), "<sip:alice@198.51.100.254:5060>")
  t:eq(header_of(m, "From"), "<sip:alice@198.51.100.254:5060>;tag=1")
  t:eq(header_of(m, "To"), "<sip:bob@198.51.100.2>", "the receiver's URI stays")
  t:eq(m:match("\r\no=([^\r\n]*)"), "- 1 1 IN IP4 198.51.100.254")
  t:eq(m:match("\r\nc=([^\r\n]*)"), "IN IP4 198.51.100.254")
  t:eq(m:match("\r\nm=([^\r\n]*)"), "audio 40000 RTP/AVP 0")
  local body = m:sub((m:find("\r\n\r\n", 1, true) or 0) + 4)
  t:eq(tonumber(header_of(m, "Content%-Length")), #body)
  t:eq(ports(d.expectations), "198.51.100.254:40000/audio 198.51.100.254:40001/audio")
  local e = d.expectations[1] or {}
  t:eq(e.src, "198.51.100.2"); t:eq(e.nat_dir, "reply"); t:eq(e.nat_port, 40000)
  t:eq((d.expectations[2] or {}).nat_port, 40001)
  -- bob's answer: the Via comes back to alice's real address, his media is not translated
  local r = c:send("reply", msg("SIP/2.0 200 OK", { "Via: SIP/2.0/UDP 198.51.100.254:5060;branch=z9hG4bK1;rport=5060;received=198.51.100.254",
    "CSeq: 1 INVITE", "Content-Type: application/sdp" }, "v=0\r\no=- 2 2 IN IP4 198.51.100.2\r\nc=IN IP4 198.51.100.2\r\nm=audio 30000 RTP/AVP 0\r\n"))
  t:eq(header_of(r.packet, "Via"), "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport=5060;received=192.0.2.1")
  t:eq(ports(r.expectations), "198.51.100.2:30000/audio 198.51.100.2:30001/audio")
  t:eq((r.expectations[1] or {}).nat_dir, "original")
end

function Test_snat_hunts_a_port_pair(t)
  local h = testing.load("helper.lua")
  h:occupy{ src = "198.51.100.2", dst = "198.51.100.254", dport = 40001, l4 = "udp" }
  local c = h:conn(SNAT)
  local d = c:send("original", nat_invite("198.51.100.2", 40000))
  -- 40000 was taken, 40001 not: the RTP expectation is removed again
  t:eq(ports(d.removed), "198.51.100.254:40000/audio")
  t:eq(ports(c:expectations()), "198.51.100.254:40002/audio 198.51.100.254:40003/audio", "the next pair")
  t:eq((c:expectations()[1] or {}).nat_port, 40000)
  t:eq((d.packet or ""):match("\r\nm=([^\r\n]*)"), "audio 40002 RTP/AVP 0")
end

function Test_dnat_rewrites_the_answer(t)
  local c = testing.load("helper.lua"):conn(DNAT)
  local d = c:send("original", nat_invite("192.0.2.254", 40000))
  t:eq(d.error, nil)
  t:eq(d.packet and d.packet:match("^[^\r]*"), "INVITE sip:bob@198.51.100.2:5060 SIP/2.0", "request URI to the real server")
  t:eq(header_of(d.packet, "To"), "<sip:bob@198.51.100.2:5060>")
  t:eq(ports(d.expectations), "192.0.2.1:40000/audio 192.0.2.1:40001/audio", "alice's address is what bob reaches")
  local r = c:send("reply", msg("SIP/2.0 200 OK", { "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1", "CSeq: 1 INVITE",
    "Contact: <sip:bob@198.51.100.2:5060>", "Content-Type: application/sdp" },
    "v=0\r\no=- 2 2 IN IP4 198.51.100.2\r\nc=IN IP4 198.51.100.2\r\nm=audio 30000 RTP/AVP 0\r\n"))
  t:eq(header_of(r.packet, "Contact"), "<sip:bob@192.0.2.254:5060>")
  t:eq(r.packet and r.packet:match("\r\nc=([^\r\n]*)"), "IN IP4 192.0.2.254")
  t:eq(ports(r.expectations), "192.0.2.254:30000/audio 192.0.2.254:30001/audio", "bob's media via the public address")
  t:eq((r.expectations[1] or {}).src, "192.0.2.1")
  t:eq((r.expectations[1] or {}).nat_port, 30000)
end

function Test_snat_register(t)
  local c = testing.load("helper.lua"):conn({ client = "192.0.2.1", server = "198.51.100.2", sport = 5062, dport = 5060,
    l4 = "udp", nat = { client = "198.51.100.254" } })
  local d = c:send("original", register(1, "<sip:alice@192.0.2.1:5070>", { "Expires: 3600" }))
  t:eq(d.error, nil)
  -- hunted with expect.insert, then handed to the verdict (which attaches the helper on all kernels)
  t:eq(ports(d.removed), "198.51.100.254:5070/signalling")
  t:eq(ports(c:expectations()), "198.51.100.254:5070/signalling", "one live: the verdict's")
  t:eq(ports(d.expectations), "198.51.100.254:5070/signalling 198.51.100.254:5070/signalling")
  local e = d.expectations[1] or {}
  t:eq(e.inserted, false)
  t:eq(e.nat_dir, "reply"); t:eq(e.nat_port, 5070); t:eq(e.helper, "sip"); t:eq(e.permanent, true)
  t:eq(header_of(d.packet, "Contact"), "<sip:alice@198.51.100.254:5070>")
  t:eq(header_of(d.packet, "Via"), "SIP/2.0/UDP 198.51.100.254:5062;branch=z9hG4bKr1")
  -- the registrar confirms the translated contact: the expectation stays
  local ok = c:send("reply", reply(200, 1, "REGISTER"):gsub("Contact: <sip:bob@192.0.2.2>", "Contact: <sip:alice@198.51.100.254:5070>;expires=3600"))
  t:eq(#ok.removed, 0)
end

function Test_snat_without_sdp_owner_is_dropped(t)
  local c = testing.load("helper.lua"):conn(SNAT)
  local d = c:send("original", invite(1, "v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 40000 RTP/AVP 0\r\n"))
  t:eq(d.verdict, "drop")
end
