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
-- See README.md for the differences from the kernel.

local parse   = require("ctlua.parse")
local expect  = require("ctlua.expect")
local options = require("ctlua.options")
local log     = require("ctlua.log")

local MEDIA_POLICIES = { "audio", "video", "image" }
local CTX -- the metatable of a packet's context, below
-- SDP media types and their classes, matched case-sensitively like the
-- kernel's sdp_media_types.
local MEDIA = { { "audio ", "audio" }, { "video ", "video" }, { "image ", "image" } }

-- flush_media removes the call's media expectations (flush_expectations
-- with media = true). st.media is false after a flush that found none
-- to spare the listing when nothing was expected since.
local function flush_media(ctx)
  if ctx.st.media == false then return end
  local n, err = expect.remove{ policy = MEDIA_POLICIES }
  if not n then log.warn("cannot remove the media expectations", { error = err }) end
  ctx.st.media = false
end

-- sdp_addr returns the address of the first c= line at or after init
-- and before the next m= line ("IN IP4 " or "IN IP6 " by the
-- connection's family, case-sensitive), or nil.
local function sdp_addr(ctx, init)
  local pkt = ctx.pkt
  local i, j = parse.sdp_line(pkt, init, "c", "m")
  if not i then return nil end
  local tag = ctx.ipv6 and "IN IP6 " or "IN IP4 "
  local at = pkt:find(tag, i)
  if not at or at + #tag > j then return nil end
  local addr = (ctx.ipv6 and parse.ipv6 or parse.ipv4)(pkt, at + #tag)
  return addr
end

-- insert adds one media expectation. Like the kernel's
-- NF_CT_EXP_F_SKIP_MASTER, an equal one of another class or another
-- call counts as set up.
local function insert(spec)
  local ok, err = expect.insert(spec)
  if ok then return true end
  if err:find("another class", 1, true) or err:find("another connection's", 1, true) then
    log.debug("media already expected", { error = err })
    return true
  end
  return nil, err
end

-- expect_rtp_rtcp expects RTP and RTCP to addr:port (set_expected_rtp_rtcp).
-- With sip_direct_media only media from the signalling peer, and only
-- when addr is the sender's own. Returns "drop" when the kernel would.
local function expect_rtp_rtcp(ctx, addr, port, policy)
  local src
  if options.get("sip_direct_media") then
    if addr ~= ctx.here.src then return nil end
    src = ctx.there.src
  end
  local base = port - port % 2
  local rtp = { src = src, dst = addr, dport = base, l4 = "udp", policy = policy }
  local ok, err = insert(rtp)
  if ok then
    ok, err = insert{ src = src, dst = addr, dport = base + 1, l4 = "udp", policy = policy }
    if not ok then expect.remove{ policy = policy, dst = addr, dport = base, l4 = "udp" } end
  end
  if not ok then
    log.warn("cannot add expectation for media, dropping", { error = err })
    return "drop"
  end
  ctx.st.media = true
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

-- process_sdp expects the media of the SDP body, if any (process_sdp).
local function process_sdp(ctx)
  local pkt = ctx.pkt
  local sdp = parse.sdp_line(pkt, 1, "v")
  if not sdp then return nil end
  local session = sdp_addr(ctx, sdp)
  local at, done = sdp, 0
  while done < #MEDIA do
    local i = parse.sdp_line(pkt, at, "m")
    if not i then break end
    local media, well_formed, pos = media_at(pkt, i)
    if not well_formed then break end
    at = pos
    local port = media and (parse.uint(pkt, pos) or 0) or 0
    if media and port ~= 0 then
      if port < 1024 or port > 65535 then
        log.info("wrong media port, dropping", { port = port })
        return "drop"
      end
      local addr = sdp_addr(ctx, pos) or session
      if not addr then
        log.info("cannot parse SDP message: no c= address, dropping")
        return "drop"
      end
      local verdict = expect_rtp_rtcp(ctx, addr, port, media[2])
      if verdict then return verdict end
      done = done + 1
    end
  end
  return nil
end

-- each_contact calls fn(addr, port, after) for every sip: URI of every
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
      local addr, port, _, after = parse.sip_uri(pkt, at)
      if addr then
        local r = fn(addr, port, after)
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

-- register_request expects incoming calls to the registered contact
-- (process_register_request).
local function register_request(ctx, cseq)
  if ctx.conn:has_status("expected") then return nil end
  local pkt = ctx.pkt
  local expires = header_expires(pkt)
  local addr, port, after = nil, nil, nil
  local r = each_contact(pkt, function(a, p, n) addr, port, after = a, p, n; return true end)
  if r == "drop" then return "drop" end
  if not addr or addr ~= ctx.here.src then return nil end -- none, or third-party
  local proto = transport(ctx, after)
  if not proto then return nil end
  expires = param_expires(pkt, after, expires)
  if expires ~= 0 then
    local src = options.get("sip_direct_signalling") and ctx.there.src or nil
    local ok, err = expect.insert{ src = src, dst = addr, dport = port, l4 = proto, policy = "signalling",
      permanent = true, helper = ctx.conn:helper() }
    if not ok then
      log.warn("cannot add expectation for the registration, dropping", { error = err })
      return "drop"
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

-- A packet's context: pkt, conn, st (conn:state()), ipv6, l4, and, read
-- from conntrack only when a message needs them, here (the sender's
-- tuple, conn:tuple(dir)) and there (the other direction's).
CTX = {
  __index = function(ctx, k)
    if k ~= "here" and k ~= "there" then return nil end
    local dir = ctx.pkt:dir()
    ctx.here = ctx.conn:tuple(dir)
    ctx.there = ctx.conn:tuple(dir == "original" and "reply" or "original")
    return rawget(ctx, k)
  end,
}

local function on_packet(pkt, conn)
  local n = pkt:len()
  if n == 0 then return end
  conn:set_timeout(options.get("sip_timeout"))
  if n < 11 then return end -- shorter than "SIP/2.0 200"
  local ctx = setmetatable({ pkt = pkt, conn = conn, st = conn:state(), ipv6 = pkt:l3() == "ipv6", l4 = pkt:l4() }, CTX)
  if pkt:iprefix("SIP/2.0 ") then return response(ctx) end
  return request(ctx)
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
  options = { sip_direct_media = true, sip_direct_signalling = true, sip_timeout = 3600 },
  on_packet = on_packet,
}
