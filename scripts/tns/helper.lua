-- tns: expect the connection an Oracle TNS listener redirects a client to.
--
-- Like conntrackd's ct_helper_tns (conntrack-tools src/helpers/tns.c): in
-- the server's direction, a REDIRECT packet (TNS type 5), or the DATA
-- packet (type 6) right after a REDIRECT that carried no data, names the
-- address to connect to:
--   (DESCRIPTION=(ADDRESS=(PROTOCOL=tcp)(HOST=192.0.2.7)(PORT=40123)))
-- and the client's TCP connection to HOST:PORT (any source port) becomes
-- expected. Beyond conntrackd: IPv6 HOST addresses, keywords in any case,
-- the redirect data read where it starts, DATA packets whose flags start
-- with a zero byte. Under NAT the address and port are rewritten like
-- nf_nat_ftp rewrites a 227 reply. See README.md.

local expect = require("ctlua.expect")
local nat    = require("ctlua.nat")
local log    = require("ctlua.log")

local REDIRECT, DATA = 5, 6
local MAX_SCAN = 4096 -- a redirect's connect data is short

-- read_host reads the HOST= value of text s from position i up to its
-- closing parenthesis: an IPv4 dotted quad (octets up to 255, spaces
-- allowed as conntrackd does) or, on IPv6, an address with or without
-- brackets. It returns the address and the position of the ")", or nil.
local function read_host(s, i, v6)
  local close = s:find(")", i, true)
  if not close then return nil end
  local text = s:sub(i, close - 1):gsub(" ", "")
  if v6 then
    local a = text:match("^%[([%x:.]+)%]$") or text:match("^([%x:.]+)$")
    if a and a:find(":", 1, true) then return a:lower(), close end
    return nil
  end
  local a, b, c, d = text:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  a, b, c, d = tonumber(a), tonumber(b), tonumber(c), tonumber(d)
  if not a or a > 255 or b > 255 or c > 255 or d > 255 then return nil end
  return a .. "." .. b .. "." .. c .. "." .. d, close
end

-- find_address finds "(", then HOST=address, then PORT=port after it in
-- the payload from position init, keywords in any case. It returns the
-- address, the port and the payload positions of the address text (hi..hj)
-- and of the port digits (pi..pj), or nil.
local function find_address(pkt, init, v6)
  local s = pkt:sub(init, init + MAX_SCAN - 1):upper()
  local open = s:find("(", 1, true)
  if not open then return nil end
  local _, hk = s:find("HOST=", open + 1, true)
  if not hk then return nil end
  local addr, close = read_host(s, hk + 1, v6)
  if not addr then return nil end
  local _, pk = s:find("PORT=", close + 1, true)
  if not pk then return nil end
  local pi, digits, pj = s:match("^ *()(%d+)() *%)", pk + 1)
  local port = tonumber(digits)
  if not port or port == 0 or port > 65535 then return nil end
  local base = init - 1
  return addr, port, base + hk + 1, base + close - 1, base + pi, base + pj - 1
end

local function be16(n) return string.char(math.floor(n / 256) % 256, n % 256) end

-- rewrite_nat hunts a port for the expectation and rewrites the address
-- and port to what the client must use, with the TNS lengths (and
-- conntrackd's zeroed checksums). It returns the verdict.
local function rewrite_nat(pkt, spec, port, f)
  spec.nat = { dir = "original", port = port }
  local got, err = expect.hunt(spec)
  if not got then
    log.warn("no port for the redirect, dropping it", { error = err })
    return "drop"
  end
  local addr, ports = spec.dst, tostring(got)
  local delta = #addr - (f.hj - f.hi + 1) + #ports - (f.pj - f.pi + 1)
  local edits = { { f.hi, f.hj, addr }, { f.pi, f.pj, ports } }
  if delta ~= 0 then
    local r = pkt:reader(1)
    edits[3] = { 1, 4, be16(r:u16() + delta) .. "\0\0" }
    edits[4] = { 7, 8, "\0\0" }
    if pkt:byte(5) == REDIRECT then
      r:skip(4)
      edits[5] = { 9, 10, be16(r:u16() + delta) }
    end
  end
  local ok, rerr = nat.replace_many(pkt, edits)
  if not ok then
    log.warn("cannot rewrite the redirect, dropping it", { error = rerr })
    return "drop"
  end
  return nil
end

-- redirect expects the connection the redirect data from position init
-- names; it returns the verdict.
local function redirect(pkt, conn, init)
  local orig, back = conn:tuple("original"), conn:tuple("reply")
  local addr, port, hi, hj, pi, pj = find_address(pkt, init, orig.l3 == "ipv6")
  if not addr then return nil end
  local spec = { src = orig.src, dst = addr, dport = port, l4 = "tcp", policy = "tns" }
  -- Under NAT the client reaches the listener's host through the address
  -- it used: a redirect to that host is rewritten; one to another host is
  -- expected as it stands (the master's NAT cannot take the client there).
  if conn:is_nat() and addr == back.src then
    spec.dst = orig.dst
    return rewrite_nat(pkt, spec, port, { hi = hi, hj = hj, pi = pi, pj = pj })
  end
  local ok, err = expect.insert(spec)
  if not ok then
    log.warn("cannot expect the redirected connection, dropping the redirect", { error = err })
    return "drop"
  end
  return nil
end

local function on_packet(pkt, conn)
  if pkt:dir() ~= "reply" or pkt:ctinfo() ~= "established_reply" then return end
  local n = pkt:len()
  if n < 8 then return end
  local kind = pkt:byte(5)
  local st = conn:state()
  if kind == REDIRECT then
    -- No redirect data here: it comes in the next DATA packet.
    if n <= 10 or pkt:reader(9):u16() == 0 then
      st.pending = true
      return
    end
    st.pending = nil
    return redirect(pkt, conn, 11)
  end
  if st.pending then -- written only when set: the common path reads
    st.pending = nil
    if kind == DATA then return redirect(pkt, conn, 9) end
  end
end

return {
  name = "tns",
  l3 = "both",
  l4 = "tcp",
  ports = { 1521 },
  policies = { { name = "tns", max_expected = 1, timeout = 300 } },
  payload_only = true,
  on_packet = on_packet,
}
