-- rpc: expect the connection to the RPC program a portmapper lookup found.
--
-- Like conntrackd's ct_helper_rpc (conntrack-tools src/helpers/rpc.c), on
-- TCP (one record-marked message per segment) and UDP port 111:
--   client -> server  CALL portmapper v2 PMAPPROC_GETPORT(prog, vers, prot, 0)
--   server -> client  REPLY with the same XID, accepted, SUCCESS, port
-- makes the client's connection to that port (protocol prot, any source
-- port) expected, permanent (every connection of the client to the program
-- until the timeout). Beyond conntrackd, the rpcbind lookup every libtirpc
-- client sends (rpcinfo, IPv6): RPCBPROC_GETADDR of rpcbind v3 and v4,
-- answered with a universal address. Under NAT the port is hunted and the
-- reply rewritten. See README.md.

local expect = require("ctlua.expect")
local nat    = require("ctlua.nat")
local log    = require("ctlua.log")

local CALL, REPLY = 0, 1
local PMAPPROG, GETPORT = 100000, 3 -- RPCBPROC_GETADDR is 3 too
local MAX_AUTH_BYTES = 400
local MAX_STRING = 255 -- netids and universal addresses are short
local PROTOS = { [6] = "tcp", [17] = "udp" }
local NETIDS = { tcp = "tcp", udp = "udp", tcp6 = "tcp", udp6 = "udp" }

-- skip_auth reads an opaque_auth (flavour, length, body padded to 4
-- bytes) like conntrackd: a body over 400 bytes is malformed. It returns
-- false when it is.
local function skip_auth(r)
  r:u32()
  local len = r:u32()
  if r:err() or len > MAX_AUTH_BYTES then return false end
  r:skip(math.ceil(len / 4) * 4)
  return not r:err()
end

-- xdr_string reads an XDR string of at most MAX_STRING bytes; it returns
-- the string and the positions of its length word and of the byte after
-- its padding, or nil.
local function xdr_string(r)
  local at = r:pos()
  local len = r:u32()
  if r:err() or len > MAX_STRING then return nil end
  local s = r:bytes(len)
  r:skip((4 - len % 4) % 4)
  if r:err() then return nil end
  return s, at, r:pos()
end

-- parse_call returns what a lookup call asks: {l4 = "tcp"|"udp",
-- getaddr = bool}, or nil. The reader stands after the message direction.
local function parse_call(r, payload_end)
  local rpcvers, prog, vers, proc = r:u32(), r:u32(), r:u32(), r:u32()
  if r:err() or rpcvers ~= 2 or prog ~= PMAPPROG or proc ~= GETPORT then return nil end
  if vers < 2 or vers > 4 or not skip_auth(r) or not skip_auth(r) then return nil end
  if vers == 2 then
    -- conntrackd: exactly the four words of the pmap argument, port 0
    if payload_end - r:pos() ~= 16 then return nil end
    r:u32(); r:u32()
    local prot, port = r:u32(), r:u32()
    if not PROTOS[prot] or port ~= 0 then return nil end
    return { l4 = PROTOS[prot] }
  end
  -- rpcbind v3, v4: GETADDR has GETPORT's number
  r:u32(); r:u32() -- program, version
  local netid = xdr_string(r)
  local l4 = netid and NETIDS[netid]
  if not l4 then return nil end
  return { l4 = l4, getaddr = true }
end

-- uaddr_port splits a universal address ("192.0.2.2.128.1",
-- "2001:db8::2.128.1") into its address and port, or nil.
local function uaddr_port(u)
  local addr, hi, lo = u:match("^(.+)%.(%d+)%.(%d+)$")
  hi, lo = tonumber(hi), tonumber(lo)
  if not addr or hi > 255 or lo > 255 then return nil end
  return addr, hi * 256 + lo
end

-- parse_reply reads an accepted, successful reply to the lookup call; it
-- returns the port and the positions i..j of what NAT rewrites (the port
-- word, or the universal address string with its length and padding), or
-- nil. For GETADDR it also returns the address the server named.
local function parse_reply(r, payload_end, call)
  local stat = r:u32()
  if r:err() or stat ~= 0 then return nil end -- MSG_ACCEPTED
  if not skip_auth(r) then return nil end
  local accept = r:u32()
  if r:err() or accept ~= 0 then return nil end -- SUCCESS
  local i = r:pos()
  if not call.getaddr then
    -- conntrackd: verifier, status and port end the message
    if payload_end - i ~= 4 then return nil end
    local port = r:u32()
    if port == 0 or port > 65535 then return nil end
    return port, i, i + 3
  end
  local u, at, next = xdr_string(r)
  if not u or u == "" then return nil end -- "" means not registered
  local addr, port = uaddr_port(u)
  if not addr or port == 0 then return nil end
  return port, at, next - 1, addr
end

-- xdr_encode returns s as an XDR string (length, bytes, padding).
local function xdr_encode(s)
  local n = #s
  return string.char(0, 0, math.floor(n / 256), n % 256) .. s .. string.rep("\0", (4 - n % 4) % 4)
end

local function be32(n)
  return string.char(math.floor(n / 16777216) % 256, math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)
end

-- universal formats addr and port as a universal address.
local function universal(addr, port)
  return addr .. "." .. math.floor(port / 256) .. "." .. port % 256
end

-- nat_reply hunts a port for the expectation and rewrites the reply
-- (bytes i..j) to it; under GETADDR the address becomes the one the client
-- used, and on TCP the record mark follows the new length. It returns the
-- verdict.
local function nat_reply(pkt, spec, call, port, i, j)
  spec.nat = { dir = "original", port = port }
  local got, err = expect.hunt(spec)
  if not got then
    log.warn("no port for the RPC program, dropping the reply", { error = err })
    return "drop"
  end
  local edits
  if call.getaddr then
    local text = xdr_encode(universal(spec.dst, got))
    edits = { { i, j, text } }
    if pkt:l4() == "tcp" then
      local mark = pkt:reader(1):u32()
      local len = mark % 2147483648 + #text - (j - i + 1)
      edits[2] = { 1, 4, be32(mark - mark % 2147483648 + len) }
    end
  elseif got ~= port then
    edits = { { i, j, be32(got) } }
  end
  if edits then
    local ok, rerr = nat.replace_many(pkt, edits)
    if not ok then
      log.warn("cannot rewrite the reply, dropping it", { error = rerr })
      return "drop"
    end
  end
  return nil
end

-- reply handles a reply to the call st.call; it returns the verdict.
local function reply(pkt, conn, r, call)
  local port, i, j, addr = parse_reply(r, pkt:len() + 1, call)
  if not port then return nil end
  local orig, back = conn:tuple("original"), conn:tuple("reply")
  if addr then
    local v6 = addr:find(":", 1, true) ~= nil
    if v6 ~= (orig.l3 == "ipv6") then return nil end -- another family
    if addr ~= back.src and addr ~= orig.dst then
      log.info("the lookup names another host, not expecting", { addr = addr, server = back.src })
      return nil
    end
  end
  local spec = { src = orig.src, dst = orig.dst, dport = port, l4 = call.l4, permanent = true, policy = "rpc" }
  if conn:is_nat() then return nat_reply(pkt, spec, call, port, i, j) end
  local ok, err = expect.insert(spec)
  if not ok then
    -- The client asked again while an earlier lookup's permanent
    -- expectation still lets it in: conntrackd's update of that one.
    if tostring(err):find("holds the tuple", 1, true) then
      log.debug("already expected", { port = port })
      return nil
    end
    log.warn("cannot expect the RPC program, dropping the reply", { error = err })
    return "drop"
  end
  return nil
end

local function on_packet(pkt, conn)
  local tcp = pkt:l4() == "tcp"
  if tcp then
    local ctinfo = pkt:ctinfo()
    if ctinfo ~= "established" and ctinfo ~= "established_reply" then return end
  end
  local r = pkt:reader(tcp and 5 or 1) -- after the record mark on TCP
  local xid, mdir = r:u32(), r:u32()
  if r:err() then return end -- too short: conntrackd keeps its call
  local st = conn:state()
  local call = st.call
  if call then st.call = nil end -- written only when set: the common path reads
  local dir = pkt:dir()
  if mdir == CALL and dir == "original" then
    call = parse_call(r, pkt:len() + 1)
    if call then
      call.xid = xid
      st.call = call
    end
  elseif mdir == REPLY and dir == "reply" and call and call.xid == xid then
    return reply(pkt, conn, r, call)
  end
end

return {
  name = "rpc",
  l3 = "both",
  l4 = { "tcp", "udp" },
  ports = { 111 },
  policies = { { name = "rpc", max_expected = 1, timeout = 300 } },
  payload_only = true,
  on_packet = on_packet,
}
