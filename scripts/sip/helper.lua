-- sip: expect the media (RTP and RTCP) and the incoming calls a SIP
-- session announces, like the kernel's nf_conntrack_sip (UDP).
--
--   INVITE, UPDATE, ACK, PRACK with SDP, and their 1xx/2xx responses:
--     per m=audio|video|image line (at most three), an RTP and an RTCP
--     expectation (port & ~1, port | 1) towards the SDP address
--   INVITE (re-INVITE), BYE, an error response to the last INVITE:
--     the call's media expectations are removed
--   REGISTER with Contact and Expires: a permanent expectation for
--     incoming calls from the registrar (class signalling), removed when
--     the registrar refuses or the binding ends
-- On a NAT'ed connection it also does nf_nat_sip's work: the expectations
-- follow the master's NAT (RTP/RTCP port pairs and the registration's
-- port hunted), and the request URI, Via (with maddr=, received=,
-- rport=), Contact, From, To, SDP o=, c= and m= and Content-Length are
-- rewritten, all at once (nat.replace_many).
-- See README.md for the differences from the kernel.

local parse   = require("ctlua.parse")
local expect  = require("ctlua.expect")
local options = require("ctlua.options")
local log     = require("ctlua.log")
local nat     = require("ctlua.nat")

local MEDIA_POLICIES = { "audio", "video", "image" }
local CTX -- the metatable of a packet's context, below
-- SDP media types and their classes, matched case-sensitively like the
-- kernel's sdp_media_types.
local MEDIA = { { "audio ", "audio" }, { "video ", "video" }, { "image ", "image" } }

-- flush_media removes the call's media expectations (flush_expectations
-- with media = true). st.media is false after a flush that found none
-- to spare the listing when nothing was expected since; with pickup the
-- listing is never spared: in an HA pair the other firewall may have
-- carried the call's set-up, and this one's state does not know.
local function flush_media(ctx)
  if ctx.st.media == false and not options.get("pickup") then return end
  local n, err = expect.remove{ policy = MEDIA_POLICIES }
  if not n then log.warn("cannot remove the media expectations", { error = err }) end
  ctx.st.media = false
end

-- sdp_addr returns the address of the first "key=" line (c= or o=) at
-- or after init and before the next m= line ("IN IP4 " or "IN IP6 " by
-- the connection's family, case-sensitive), and the positions i, next
-- of its text; nil when there is none.
local function sdp_addr(ctx, init, key)
  local pkt = ctx.pkt
  local i, j = parse.sdp_line(pkt, init, key or "c", "m")
  if not i then return nil end
  local tag = ctx.ipv6 and "IN IP6 " or "IN IP4 "
  local at = pkt:find(tag, i)
  if not at or at + #tag > j then return nil end
  local addr, next = (ctx.ipv6 and parse.ipv6 or parse.ipv4)(pkt, at + #tag)
  if not addr then return nil end
  return addr, at + #tag, next
end

-- add inserts an expectation at once (expect.insert), or, on the first
-- packet of a connection (not yet confirmed: ctnetlink cannot insert for
-- it), hands it to the verdict (expect.create), as the kernel inserts on
-- any packet.
local function add(ctx, spec)
  if ctx.conn:has_status("confirmed") then return expect.insert(spec) end
  return expect.create(spec)
end

local function clashes(err)
  return tostring(err):find("another connection's", 1, true) ~= nil
end

-- edit records a rewrite of the payload positions i..j (nat.replace_many
-- applies them all at the end of the message).
local function edit(ctx, i, j, text)
  if ctx.pkt:sub(i, j) == text then return end
  local e = ctx.edits
  e[#e + 1] = { i, j, text }
  e.at = e.at or {}
  e.at[i] = true
end

local function host(addr) return addr:find(":", 1, true) and "[" .. addr .. "]" or addr end

-- insert adds one media expectation. Like the kernel's
-- NF_CT_EXP_F_SKIP_MASTER, an equal one of another class or another
-- call counts as set up.
local function insert(ctx, spec)
  local ok, err = add(ctx, spec)
  if ok then return true end
  if err:find("another class", 1, true) or clashes(err) then
    log.debug("media already expected", { error = err })
    return true
  end
  return nil, err
end

-- expect_pair_nat is nf_nat_sdp_media: the RTP and RTCP expectations go
-- to rtp_addr (the address the peer reaches the sender at) and follow the
-- master's NAT back to addr; when another connection's expectations hold
-- the port pair, the next pair up is tried. Returns the RTP port, or nil
-- and the error.
local function expect_pair_nat(ctx, src, addr, rtp_addr, base, policy)
  local back = ctx.dir == "original" and "reply" or "original"
  local port = base
  while port < 65535 do
    local rtp = { src = src, dst = rtp_addr, dport = port, l4 = "udp", policy = policy,
      nat = { dir = back, port = base, addr = addr } }
    local ok, err = add(ctx, rtp)
    if ok then
      ok, err = add(ctx, { src = src, dst = rtp_addr, dport = port + 1, l4 = "udp", policy = policy,
        nat = { dir = back, port = base + 1, addr = addr } })
      if ok then return port end
      expect.remove{ policy = policy, dst = rtp_addr, dport = port, l4 = "udp" }
    end
    if not clashes(err) then return nil, err end
    port = port + 2
  end
  return nil, "all ports in use"
end

-- expect_rtp_rtcp expects RTP and RTCP to addr:port (set_expected_rtp_rtcp).
-- With sip_direct_media only media from the signalling peer, and only
-- when addr is the sender's own. It returns "drop" when the kernel would,
-- and the address the media goes to (rewritten on a NAT'ed connection).
local function expect_rtp_rtcp(ctx, addr, port, policy, m)
  local src
  if options.get("sip_direct_media") then
    if addr ~= ctx.here.src then return nil, addr end
    src = ctx.there.src
  end
  local base = port - port % 2
  local ok, err
  local rtp_addr = addr
  if ctx.edits then
    rtp_addr = ctx.here.src == ctx.there.dst and addr or ctx.there.dst
    ok, err = expect_pair_nat(ctx, src, addr, rtp_addr, base, policy)
    if ok and ok ~= base then edit(ctx, m.port_at, m.port_next - 1, tostring(ok)) end
  else
    ok, err = insert(ctx, { src = src, dst = addr, dport = base, l4 = "udp", policy = policy })
    if ok then
      ok, err = insert(ctx, { src = src, dst = addr, dport = base + 1, l4 = "udp", policy = policy })
      if not ok then expect.remove{ policy = policy, dst = addr, dport = base, l4 = "udp" } end
    end
  end
  if not ok then
    log.warn("cannot add expectation for media, dropping", { error = err })
    return "drop"
  end
  ctx.st.media = true
  return nil, rtp_addr
end

-- media_at reads the m= line value at i: its class entry (nil for
-- another type), whether the line has the kernel's "type SP" form, and
-- the position of the port.
local function media_at(pkt, i)
  for k = 1, #MEDIA do
    if pkt:prefix(MEDIA[k][1], i) then return MEDIA[k], true, i + #MEDIA[k][1] end
  end
  local j = i
  while true do
    local c = pkt:byte(j)
    if not c or not ((c >= 65 and c <= 90) or (c >= 97 and c <= 122)) then
      return nil, c == 32 and j > i, j
    end
    j = j + 1
  end
end

-- sdp_session is nf_nat_sdp_session: the session's o= and c= addresses
-- become rtp_addr; an SDP without o= cannot be rewritten (dropped).
local function sdp_session(ctx, sdp, rtp_addr)
  local _, i, next = sdp_addr(ctx, sdp, "o")
  if not i then
    log.info("cannot mangle SDP owner, dropping")
    return "drop"
  end
  edit(ctx, i, next - 1, rtp_addr)
  _, i, next = sdp_addr(ctx, sdp, "c")
  if i then edit(ctx, i, next - 1, rtp_addr) end
  ctx.sdp = sdp
end

-- process_sdp expects the media of the SDP body, if any (process_sdp);
-- on a NAT'ed connection it rewrites the addresses and ports.
local function process_sdp(ctx)
  local pkt = ctx.pkt
  local sdp = parse.sdp_line(pkt, 1, "v")
  if not sdp then return nil end
  local session = sdp_addr(ctx, sdp)
  local at, done, rtp_addr = sdp, 0, nil
  while done < #MEDIA do
    local i = parse.sdp_line(pkt, at, "m")
    if not i then break end
    local media, well_formed, pos = media_at(pkt, i)
    if not well_formed then break end
    at = pos
    local port, port_next = 0, pos
    if media then port, port_next = parse.uint(pkt, pos) end
    if port and port ~= 0 then
      if port < 1024 or port > 65535 then
        log.info("wrong media port, dropping", { port = port })
        return "drop"
      end
      local maddr, mi, mnext = sdp_addr(ctx, pos)
      if not (maddr or session) then
        log.info("cannot parse SDP message: no c= address, dropping")
        return "drop"
      end
      local verdict
      verdict, rtp_addr = expect_rtp_rtcp(ctx, maddr or session, port, media[2], { port_at = pos, port_next = port_next })
      if verdict then return verdict end
      if maddr and ctx.edits then edit(ctx, mi, mnext - 1, rtp_addr) end
      done = done + 1
    end
  end
  if ctx.edits and rtp_addr then return sdp_session(ctx, sdp, rtp_addr) end
  return nil
end

-- each_contact calls fn(addr, port, after, i) for every sip: URI of every
-- Contact header (comma-separated values too), like the kernel's
-- ct_sip_walk_headers, until fn returns a value, which it returns. A
-- Contact whose host is not an address is skipped; a port outside
-- 1024..65535 returns "drop".
local function each_contact(pkt, fn)
  local init = 1
  while true do
    local i, j, next = parse.sip_header(pkt, init, "Contact")
    if not i then return nil end
    local at = i
    while at and at <= j do
      local addr, port, hi, after = parse.sip_uri(pkt, at)
      if addr then
        local r = fn(addr, port, after, hi)
        if r ~= nil then return r end
      elseif tostring(port):find("1024..65535", 1, true) then
        log.info("cannot parse contact, dropping", { error = port })
        return "drop"
      end
      local comma = pkt:find(",", after or at)
      at = comma and comma <= j and comma + 1 or nil
    end
    init = next
  end
end

-- transport returns the contact's protocol (transport= or the
-- connection's), or nil when it is not the connection's.
local function transport(ctx, after)
  local i = parse.sip_param(ctx.pkt, after, "transport=")
  if not i then return ctx.l4 end
  for _, p in ipairs({ "tcp", "udp" }) do
    if ctx.pkt:iprefix(p, i) then return p == ctx.l4 and p or nil end
  end
  return nil
end

-- param_expires returns the contact's expires= value, or def.
local function param_expires(pkt, after, def)
  local i = parse.sip_param(pkt, after, "expires=")
  return i and parse.uint(pkt, i) or def
end

local function header_expires(pkt)
  local i = parse.sip_header(pkt, 1, "Expires")
  return i and parse.uint(pkt, i) or 0
end

-- expect_register_nat is nf_nat_sip_expect: the registration's
-- expectation goes to the address the registrar reaches the sender at,
-- on the contact's port or, when that is the signalling source port, the
-- translated one, hunting upwards while another connection's expectation
-- holds it; the Contact is rewritten to match. Returns the verdict.
local function expect_register_nat(ctx, spec, addr, port, hi, after)
  local newaddr = ctx.here.src == ctx.there.dst and addr or ctx.there.dst
  local p = port == ctx.here.sport and ctx.there.dport or port
  spec.dst, spec.nat = newaddr, { dir = ctx.dir == "original" and "reply" or "original", port = port, addr = addr }
  while p <= 65535 do
    spec.dport = p
    local ok, err = add(ctx, spec)
    if ok then break end
    if not clashes(err) then p = 65536 else p = p + 1 end
  end
  if p > 65535 then
    log.warn("cannot add expectation for the registration: all ports in use, dropping")
    return "drop"
  end
  if ctx.conn:has_status("confirmed") then
    -- The port is ours; let the expectation travel with the verdict
    -- instead, the only way kernels since 2026 attach its helper.
    expect.remove{ policy = "signalling", dst = newaddr, dport = p, l4 = spec.l4 }
    expect.create(spec)
  end
  if newaddr ~= addr or p ~= port then edit(ctx, hi, after - 1, host(newaddr) .. ":" .. p) end
  return nil
end

-- register_request expects incoming calls to the registered contact
-- (process_register_request).
local function register_request(ctx, cseq)
  if ctx.conn:has_status("expected") then return nil end
  local pkt = ctx.pkt
  local expires = header_expires(pkt)
  local addr, port, after, hi = nil, nil, nil, nil
  local r = each_contact(pkt, function(a, p, n, i) addr, port, after, hi = a, p, n, i; return true end)
  if r == "drop" then return "drop" end
  if not addr or addr ~= ctx.here.src then return nil end -- none, or third-party
  local proto = transport(ctx, after)
  if not proto then return nil end
  expires = param_expires(pkt, after, expires)
  if expires ~= 0 then
    local spec = { src = options.get("sip_direct_signalling") and ctx.there.src or nil, dst = addr, dport = port,
      l4 = proto, policy = "signalling", permanent = true, helper = ctx.conn:helper() }
    if ctx.edits then
      if expect_register_nat(ctx, spec, addr, port, hi, after) then return "drop" end
    else
      -- With the verdict (NFQA_EXP): since 2026 kernels attach an
      -- expectation's helper only on that path, not over ctnetlink.
      local ok, err = expect.create(spec)
      if not ok then
        log.warn("cannot add expectation for the registration, dropping", { error = err })
        return "drop"
      end
    end
  end
  ctx.st.register_cseq = cseq
  return nil
end

-- register_response keeps the registration's expectation while the
-- registrar confirms the contact, and removes it otherwise
-- (process_register_response).
local function register_response(ctx, cseq, code)
  if ctx.st.register_cseq ~= cseq or (code >= 100 and code <= 199) then return nil end
  local pkt = ctx.pkt
  if code >= 200 and code <= 299 then
    local expires = header_expires(pkt)
    local r = each_contact(pkt, function(addr, port, after)
      if addr ~= ctx.here.dst then return nil end
      local proto = transport(ctx, after)
      if not proto then return nil end
      if param_expires(pkt, after, expires) == 0 then return "flush" end
      local live = expect.list{ policy = "signalling", dst = addr, dport = port, l4 = proto }
      if live and #live > 0 then return "keep" end
    end)
    if r == "drop" then return "drop" end
    if r == "keep" then return nil end
  end
  expect.remove{ policy = "signalling" }
  return nil
end

local function invite_request(ctx, cseq)
  flush_media(ctx)
  local verdict = process_sdp(ctx)
  if not verdict then ctx.st.invite_cseq = cseq end
  return verdict
end

local function bye_request(ctx)
  flush_media(ctx)
end

-- sdp_response handles the responses to INVITE, UPDATE and PRACK.
local function sdp_response(ctx, cseq, code)
  if code >= 100 and code <= 299 then return process_sdp(ctx) end
  if ctx.st.invite_cseq == cseq then flush_media(ctx) end
  return nil
end

-- The kernel's sip_handlers, in its order: method, request, response.
local HANDLERS = {
  { "INVITE", invite_request, sdp_response },
  { "UPDATE", process_sdp, sdp_response },
  { "ACK", process_sdp, nil },
  { "PRACK", process_sdp, sdp_response },
  { "BYE", bye_request, nil },
  { "REGISTER", register_request, register_response },
}

-- cseq returns the CSeq number and the position after it, or nil.
local function cseq_of(pkt)
  local i = parse.sip_header(pkt, 1, "CSeq")
  if not i then return nil end
  return parse.uint(pkt, i)
end

local function is_alpha(c) return c and ((c >= 65 and c <= 90) or (c >= 97 and c <= 122)) end

local function request(ctx)
  local pkt = ctx.pkt
  for _, h in ipairs(HANDLERS) do
    local m = h[1]
    if h[2] and pkt:len() >= #m + 2 and pkt:iprefix(m) and pkt:byte(#m + 1) == 32 and is_alpha(pkt:byte(#m + 2)) then
      local cseq = cseq_of(pkt)
      if not cseq then
        log.info("cannot parse cseq, dropping")
        return "drop"
      end
      return h[2](ctx, cseq)
    end
  end
end

local function response(ctx)
  local pkt = ctx.pkt
  local code = parse.uint(pkt, 9) or 0
  if code == 0 then
    log.info("cannot get code, dropping")
    return "drop"
  end
  local cseq, after = cseq_of(pkt)
  if not cseq then
    log.info("cannot parse cseq, dropping")
    return "drop"
  end
  for _, h in ipairs(HANDLERS) do
    if h[3] and pkt:iprefix(h[1], after + 1) then return h[3](ctx, cseq, code) end
  end
end

-- map_addr is nf_nat_sip's map_addr: an address and port of the sender's
-- tuple become the other direction's destination (what the peer sees), the
-- receiver's become the other direction's source (the real receiver).
local function map_addr(ctx, addr, port, i, next)
  if ctx.edits.at and ctx.edits.at[i] then return end -- rewritten already
  local here, there = ctx.here, ctx.there
  local na, np
  if addr == here.src and port == here.sport then
    na, np = there.dst, there.dport
  elseif addr == here.dst and port == here.dport then
    na, np = there.src, there.sport
  else
    return
  end
  if na ~= addr or np ~= port then edit(ctx, i, next - 1, host(na) .. ":" .. np) end
end

-- via_params rewrites the maddr=, received= and rport= parameters of the
-- topmost Via after its sent-by (position at), as nf_nat_sip does.
local function via_params(ctx, at)
  local pkt, here, there = ctx.pkt, ctx.here, ctx.there
  local ip = ctx.ipv6 and parse.ipv6 or parse.ipv4
  local i = parse.sip_param(pkt, at, "maddr=")
  if i then
    local b = ctx.ipv6 and pkt:byte(i) == 91 and 1 or 0 -- "[" allowed
    local a, n = ip(pkt, i + b)
    if a and a == here.src and a ~= there.dst then edit(ctx, i, n - 1 + b, b == 1 and host(there.dst) or there.dst) end
  end
  i = parse.sip_param(pkt, at, "received=")
  if i then
    local a, n = ip(pkt, i)
    if a and a == here.dst and a ~= there.src then edit(ctx, i, n - 1, there.src) end
  end
  i = parse.sip_param(pkt, at, "rport=")
  if i then
    local v, n = parse.uint(pkt, i)
    if v and v == here.dport and v ~= there.sport then edit(ctx, i, n - 1, tostring(there.sport)) end
  end
end

-- via rewrites the topmost Via of the connection's transport when it names
-- this connection's sender (a request) or receiver (a response).
local function via(ctx)
  local pkt, init = ctx.pkt, 1
  local tag = ctx.l4 == "tcp" and "TCP " or "UDP "
  while true do
    local i, j, next = parse.sip_header(pkt, init, "Via")
    if not i then return end
    local at = pkt:find(tag, i, true)
    if at and at <= j then
      local addr, port, hnext = parse.sip_hostport(pkt, at + #tag)
      if not addr then return end
      local t = ctx.dir == "reply" and { ctx.here.dst, ctx.here.dport } or { ctx.here.src, ctx.here.sport }
      if addr == t[1] and port == t[2] then
        map_addr(ctx, addr, port, at + #tag, hnext)
        via_params(ctx, hnext)
      end
      return
    end
    init = next
  end
end

-- content_length rewrites Content-Length to the SDP body's length after
-- the edits (mangle_content_len); nil when there is none to rewrite.
local function content_length(ctx)
  local pkt, v = ctx.pkt, ctx.sdp - 2 -- the "v=" line
  local body = pkt:len() - v + 1
  for _, e in ipairs(ctx.edits) do
    local d = #e[3] - (e[2] - e[1] + 1)
    if e[1] >= v then body = body + d end
  end
  local i = parse.sip_header(pkt, 1, "Content-Length")
  if not i then return nil end
  local _, next = parse.uint(pkt, i)
  if not next then return nil end
  edit(ctx, i, next - 1, tostring(body))
  return true
end

-- nat_msg is nf_nat_sip's message hook, after the message was handled:
-- request URI, Via, Contact, From and To; then every rewrite is applied.
local function nat_msg(ctx)
  local pkt = ctx.pkt
  if not pkt:iprefix("SIP/2.0") then
    local a, p, i, n = parse.sip_uri(pkt, 1)
    if a then map_addr(ctx, a, p, i, n) end
  end
  via(ctx)
  each_contact(pkt, function(a, p, n, i) map_addr(ctx, a, p, i, n) end)
  for _, name in ipairs({ "From", "To" }) do
    local hi = parse.sip_header(pkt, 1, name)
    local a, p, i, n = nil, nil, nil, nil
    if hi then a, p, i, n = parse.sip_uri(pkt, hi) end
    if a then map_addr(ctx, a, p, i, n) end
  end
  if ctx.sdp and not content_length(ctx) then
    log.info("cannot mangle content length, dropping")
    return "drop"
  end
  local ok, err = nat.replace_many(pkt, ctx.edits)
  if not ok then
    log.warn("cannot mangle SIP message, dropping", { error = err })
    return "drop"
  end
end

-- A packet's context: pkt, conn, st (conn:state()), ipv6, l4, and, read
-- from conntrack only when a message needs them, here (the sender's
-- tuple, conn:tuple(dir)) and there (the other direction's).
CTX = {
  __index = function(ctx, k)
    if k ~= "here" and k ~= "there" then return nil end
    local dir = ctx.dir
    ctx.here = ctx.conn:tuple(dir)
    ctx.there = ctx.conn:tuple(dir == "original" and "reply" or "original")
    return rawget(ctx, k)
  end,
}

local function on_packet(pkt, conn)
  local n = pkt:len()
  if n == 0 then return end
  local first = pkt:byte(1)
  if not is_alpha(first) then return end -- RTP or other binary on a connection that got the helper
  conn:set_timeout(options.get("sip_timeout"))
  if n < 11 then return end -- shorter than "SIP/2.0 200"
  local ctx = setmetatable({ pkt = pkt, conn = conn, st = conn:state(), dir = pkt:dir(), ipv6 = pkt:l3() == "ipv6",
    l4 = pkt:l4(), edits = conn:is_nat() and {} or nil }, CTX)
  local verdict
  if pkt:iprefix("SIP/2.0 ") then verdict = response(ctx) else verdict = request(ctx) end
  if verdict or not ctx.edits then return verdict end
  return nat_msg(ctx)
end

return {
  name = "sip",
  l3 = "both",
  l4 = "udp",
  ports = { 5060 },
  policies = {
    { name = "signalling", max_expected = 1, timeout = 180 },
    { name = "audio", max_expected = 4, timeout = 180 },
    { name = "video", max_expected = 4, timeout = 180 },
    { name = "image", max_expected = 2, timeout = 180 },
  },
  options = { sip_direct_media = true, sip_direct_signalling = true, sip_timeout = 3600, pickup = false },
  on_packet = on_packet,
}
