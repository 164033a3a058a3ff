-- irc: expect the DCC connections an IRC client announces.
--
-- Reads, like the kernel's nf_conntrack_irc, a client's
--   PRIVMSG target :\1DCC SEND name ADDR PORT [size]\1
-- (and CHAT, MOVE, TSEND, SCHAT), the address a decimal integer, and
-- expects a TCP connection from anywhere to ADDR:PORT. IPv4 only, as the
-- kernel's (DCC has no IPv6 form it reads). See README.md.

local parse   = require("ctlua.parse")
local expect  = require("ctlua.expect")
local nat     = require("ctlua.nat")
local log     = require("ctlua.log")

-- The DCC types the kernel reads, matched case-sensitively.
local dccprotos = { "SEND ", "CHAT ", "MOVE ", "TSEND ", "SCHAT " }

-- dcc_type returns the position after the DCC type at i, or nil.
local function dcc_type(pkt, i)
  for k = 1, #dccprotos do
    if pkt:prefix(dccprotos[k], i) then return i + #dccprotos[k] end
  end
end

-- find_dcc follows the kernel's scan: leading blanks, "PRIVMSG " (any
-- case), then the first " :" must open "\1DCC " and one of the types
-- (an unknown type goes on to the next " :"). It returns the position
-- after the type, or nil. The kernel's limits are kept: 0-based data <
-- len - 10 for the PRIVMSG check and < len - 26 for " :".
local function find_dcc(pkt, n)
  local p = 1
  while p <= n - 10 do
    local b = pkt:byte(p)
    if b ~= 32 and b ~= 13 and b ~= 10 then break end
    p = p + 1
  end
  if p > n - 10 then return nil end
  if not pkt:iprefix("PRIVMSG ", p) then return nil end
  p = p + 8
  while true do
    local at = pkt:find(" :", p)
    if not at or at > n - 26 then return nil end
    p = at + 2
    if not pkt:prefix("\1DCC ", p) then return nil end
    p = p + 5
    local after = dcc_type(pkt, p)
    if after then return after end
  end
end

-- ip_number is the decimal integer form of a dotted IPv4 address.
local function ip_number(addr)
  local a, b, c, d = addr:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  return ((tonumber(a) * 256 + tonumber(b)) * 256 + tonumber(c)) * 256 + tonumber(d)
end

-- announce expects the DCC connection, and under NAT (like nf_nat_irc)
-- hunts a port and rewrites "ADDR PORT" (positions at..j) to the
-- translated address and that port. Returns the verdict.
local function announce(pkt, conn, port, at, j)
  local reply = conn:tuple("reply")
  local spec = { dst = reply.dst, dport = port, l4 = "tcp" }
  if not conn:is_nat() then
    local ok, err = expect.insert(spec)
    if not ok then
      log.warn("cannot add expectation, dropping", { error = err })
      return "drop"
    end
    return nil
  end
  spec.nat = { dir = "reply", port = port }
  local got, err = expect.hunt(spec)
  if not got then
    log.warn("all ports in use, dropping", { error = err })
    return "drop"
  end
  local ok, rerr = nat.replace(pkt, at, j, string.format("%d %d", ip_number(reply.dst), got))
  if not ok then
    log.warn("cannot mangle packet, dropping", { error = rerr })
    return "drop"
  end
  return nil
end

local function on_packet(pkt, conn)
  if pkt:dir() ~= "original" then return end -- from the server
  local ctinfo = pkt:ctinfo()
  if ctinfo ~= "established" and ctinfo ~= "established_reply" then return end
  local n = pkt:len()
  if n > 4095 then n = 4095 end -- the kernel's MAX_SEARCH_SIZE
  local at = find_dcc(pkt, n)
  if not at then return end
  local src = pkt:len() > n and pkt:sub(1, n) or pkt
  local addr, port, i, next = parse.dcc(src, at)
  if not addr then
    log.debug("unable to parse dcc command", { error = port })
    return
  end
  local orig, reply = conn:tuple("original"), conn:tuple("reply")
  -- The address may be the client's own or its NAT'ed one.
  if (addr ~= orig.src and addr ~= reply.dst) or port == 0 then
    log.info("forged DCC command", { addr = addr, port = port, sender = orig.src })
    return
  end
  return announce(pkt, conn, port, i, next - 1)
end

return {
  name = "irc",
  l3 = "ipv4",
  l4 = "tcp",
  ports = { 6667 },
  policies = { { name = "irc", max_expected = 8, timeout = 300 } },
  on_packet = on_packet,
}
