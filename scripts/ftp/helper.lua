-- ftp: expect the data connections an FTP control connection announces.
--
-- Parses, like the kernel's nf_conntrack_ftp:
--   client -> server  PORT h1,h2,h3,h4,p1,p2      (active, IPv4)
--                     EPRT |1|a.b.c.d|port|       (active, IPv4)
--                     EPRT |2|ipv6|port|          (active, IPv6)
--   server -> client  227 ... h1,h2,h3,h4,p1,p2   (PASV reply; parentheses optional, RFC 1123)
--                     229 ... (|||port|)          (EPSV reply; address of the control connection)
-- Commands are recognised only at the start of a segment that starts right
-- after a newline of the same direction (the kernel's "sequence after
-- newline" tracking, done by the engine: lines = true), case-insensitively.
-- See README.md.

local parse   = require("ctlua.parse")
local expect  = require("ctlua.expect")
local nat     = require("ctlua.nat")
local options = require("ctlua.options")
local log     = require("ctlua.log")

-- Each command: the pattern at the start of the payload and a parser
-- returning address (false for "the control connection's"), port, and the
-- payload positions i..j (1-based, inclusive, like string.sub) of the
-- address/port text, which NAT rewrites with the format function. A parser
-- that cannot read the argument returns nil and why. Positions from one
-- ctlua function feed the next unchanged (docs/lua-api.md).
local function dotted_to_commas(addr) return (addr:gsub("%.", ",")) end
local function port_pair_text(addr, port)
  return dotted_to_commas(addr) .. "," .. math.floor(port / 256) .. "," .. port % 256
end

local commands = {
  original = {
    { "PORT", function(pkt)
        local at = pkt:find(" ", 5)
        if not at then return nil, "no argument" end
        local addr, port, next = parse.port_pair(pkt, at + 1)
        if not addr then return nil, port end
        return addr, port, at + 1, next - 1
      end, port_pair_text },
    { "EPRT", function(pkt, ipv6)
        local at = pkt:find(" ", 5)
        if not at then return nil, "no argument" end
        local addr, port, af, next = parse.eprt(pkt, at + 1)
        if not addr then return nil, port end
        if (af == 2) ~= ipv6 then return nil, "address family " .. af .. " on an IPv" .. (ipv6 and 6 or 4) .. " connection" end
        return addr, port, at + 1, next - 1
      end, function(addr, port)
        local af = addr:find(":", 1, true) and 2 or 1
        return "|" .. af .. "|" .. addr .. "|" .. port .. "|"
      end },
  },
  reply = {
    { "227 ", function(pkt)
        local at = parse.skip_to_digit(pkt, 5)
        if not at then return nil, "no number" end
        local addr, port, next = parse.port_pair(pkt, at)
        if not addr then return nil, port end
        return addr, port, at, next - 1
      end, port_pair_text },
    { "229 ", function(pkt)
        local at = pkt:find("(", 5)
        if not at then return nil, "no '('" end
        local port, next = parse.epsv(pkt, at + 1)
        if not port then return nil, next end
        return false, port, at + 1, next - 1
      end, function(_, port) return "|||" .. port .. "|" end },
  },
}

-- out_of_range tells a PORT or 227 number over 255 (the stdlib's message)
-- from other parse failures: the kernel's try_rfc959 does not check the
-- range, so the line parses there and then fails the sender check.
local function out_of_range(err)
  return tostring(err):find("must be 0..255", 1, true) ~= nil
end

-- examine looks for a command at the start of the segment. It returns the
-- verdict: "drop", or nil to accept. The engine does not count a dropped
-- segment's newline (the kernel forgets a segment it drops as
-- unparsable), so that its retransmission is examined again.
local function examine(pkt, conn, dir, n)
  local cmds = commands[dir]
  for i = 1, #cmds do
    local pattern, parser, format = cmds[i][1], cmds[i][2], cmds[i][3]
    if n <= #pattern then
      -- A segment no longer than the pattern that matches its beginning:
      -- like the kernel, drop it and let TCP retransmit the whole line.
      if pkt:iprefix(pattern:sub(1, n)) then
        log.debug("partial command, dropping", { pattern = pattern })
        return "drop"
      end
    elseif pkt:iprefix(pattern) then
      local here = conn:tuple(dir)         -- the sender's view
      local addr, port, i, j = parser(pkt, here.src:find(":", 1, true) ~= nil)
      if addr == nil then
        if out_of_range(port) then
          log.info("address in command is not the sender's, not expecting", { error = tostring(port) })
          return nil
        end
        log.debug("unparsable command, dropping", { pattern = pattern, error = tostring(port) })
        return "drop"
      end
      local other = dir == "original" and "reply" or "original"
      local there = conn:tuple(other)
      local daddr = there.dst
      if addr and addr ~= here.src then
        -- The command names another address than the sender's.
        if not options.get("loose") then
          log.info("address in command is not the sender's, not expecting", { addr = addr, sender = here.src })
          return nil
        end
        daddr = addr
      end
      local spec = { src = there.src, dst = daddr, dport = port, l4 = "tcp", policy = "ftp" }
      if not conn:is_nat() then
        -- Like the kernel: an expectation it cannot add drops the packet.
        local ok, err = expect.insert(spec)
        if not ok then
          log.warn("cannot expect, dropping the command", { error = err })
          return "drop"
        end
        return nil
      end
      -- Like nf_nat_ftp: the peer must connect to the translated address
      -- (there.dst), on the announced port or, when another connection's
      -- expectation holds it, on a free one; the data connection follows
      -- the master's NAT back to the real port.
      spec.nat = { dir = other, port = port }
      local got, err = expect.hunt(spec)
      if not got then
        log.warn("no port for the data connection, dropping the command", { error = err })
        return "drop"
      end
      local ok, rerr = nat.replace(pkt, i, j, format(there.dst, got))
      if not ok then
        log.warn("cannot rewrite the command, dropping it", { error = rerr })
        return "drop"
      end
      return nil
    end
  end
  return nil
end

-- match declares the commands' patterns: the engine calls on_packet only
-- for segments that begin with one (or with the beginning of one, cut
-- short at a segment boundary).
local match = { nocase = true }
for dir, cmds in pairs(commands) do
  match[dir] = {}
  for i = 1, #cmds do match[dir][i] = cmds[i][1] end
end

local function on_packet(pkt, conn)
  local ctinfo = pkt:ctinfo()
  if ctinfo ~= "established" and ctinfo ~= "established_reply" then return end
  -- The engine calls this only for segments that begin with one of the
  -- commands below (match) at the start of a line (lines), and for those
  -- whose position it does not know yet: no segment of their direction
  -- has ended in a newline. The kernel examines none of those, but with
  -- pickup a connection this helper has no state for (taken over from the
  -- other firewall of an HA pair, or kept across a daemon restart) has
  -- them examined, as the kernel does for a connection conntrackd created
  -- (NF_CT_FTP_SEQ_PICKUP): commands come in whole segments.
  if pkt:line_start() == nil and not options.get("pickup") then return end
  return examine(pkt, conn, pkt:dir(), pkt:len())
end

return {
  name = "ftp",
  l3 = "both",
  l4 = "tcp",
  ports = { 21 },
  policies = { { name = "ftp", max_expected = 1, timeout = 300 } },
  options = { loose = false, pickup = false },
  payload_only = true, -- pure ACKs never enter Lua
  lines = true,        -- the engine tracks where lines start (pkt:line_start())
  match = match,       -- only segments starting with a command enter Lua
  on_packet = on_packet,
}
