-- amanda: expect the TCP streams an Amanda client announces.
--
-- Like the kernel's nf_conntrack_amanda: in a reply from the Amanda client
-- (UDP port 10080), after "CONNECT " and before the end of that line, each
-- of "DATA ", "MESG ", "INDEX ", "STATE " followed by a port makes the
-- backup server's connection to that port expected. Every reply also
-- extends the master's timeout (master_timeout). See README.md.

local expect  = require("ctlua.expect")
local nat     = require("ctlua.nat")
local options = require("ctlua.options")
local log     = require("ctlua.log")

local words = { "DATA ", "MESG ", "INDEX ", "STATE " }

-- port_at reads the port after a word like the kernel: at most 5 bytes
-- before the line's end (stop), decimal digits, cut to 16 bits. It
-- returns the port and the position after its digits.
local function port_at(pkt, off, stop)
  local last = math.min(off + 4, stop - 1)
  local v, i = 0, off
  while i <= last do
    local b = pkt:byte(i)
    if b < 48 or b > 57 then break end
    v = v * 10 + b - 48
    i = i + 1
  end
  return v % 65536, i
end

-- expect_port expects orig.src -> orig.dst:port and, under NAT (like
-- nf_nat_amanda), hunts a port and rewrites the digits off..j. It
-- returns the verdict.
local function expect_port(pkt, conn, port, off, j)
  local orig = conn:tuple("original")
  local spec = { src = orig.src, dst = orig.dst, dport = port, l4 = "tcp" }
  if not conn:is_nat() then
    local ok, err = expect.insert(spec)
    if not ok then
      log.warn("cannot add expectation, dropping", { error = err })
      return "drop"
    end
    return nil
  end
  spec.nat = { dir = "original", port = port }
  local got, err = expect.hunt(spec)
  if not got then
    log.warn("all ports in use, dropping", { error = err })
    return "drop"
  end
  local ok, rerr = nat.replace(pkt, off, j, tostring(got))
  if not ok then
    log.warn("cannot mangle packet, dropping", { error = rerr })
    return "drop"
  end
  return nil
end

local function on_packet(pkt, conn)
  if pkt:dir() == "original" then return end -- only the client's replies
  -- Replies from the client can be much delayed: keep the master.
  conn:set_timeout(options.get("master_timeout"))
  local _, cj = pkt:find("CONNECT ")
  if not cj then return end
  local start = cj + 1
  local stop = pkt:find("\n", start)
  if not stop then return end
  for k = 1, #words do
    local i, j = pkt:find(words[k], start)
    if i and j < stop then
      local off = j + 1
      local port, next = port_at(pkt, off, stop)
      if port == 0 then break end -- the kernel stops at the first bad one
      local verdict = expect_port(pkt, conn, port, off, next - 1)
      if verdict then return verdict end
    end
  end
end

return {
  name = "amanda",
  l3 = "both",
  l4 = "udp",
  ports = { 10080 },
  policies = { { name = "amanda", max_expected = 4, timeout = 180 } },
  options = { master_timeout = 300 },
  on_packet = on_packet,
}
