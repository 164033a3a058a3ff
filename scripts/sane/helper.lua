-- sane: expect the image connection of a SANE network scan.
--
-- Like the kernel's nf_conntrack_sane: a client's 8-byte request with the
-- RPC code SANE_NET_START (7) makes the next reply interesting; a reply
-- with status SANE_STATUS_GOOD (0) whose port word has a zero high half
-- names the data port, and the client's connection to it is expected.
-- See README.md.

local expect = require("ctlua.expect")
local log    = require("ctlua.log")

local SANE_NET_START = 7

local function on_packet(pkt, conn)
  local ctinfo = pkt:ctinfo()
  if ctinfo ~= "established" and ctinfo ~= "established_reply" then return end
  local n = pkt:len()
  if n == 0 then return end
  local st = conn:state()
  if pkt:dir() == "original" then
    if n ~= 8 then return end -- a request is RPC code + handle, 2 words
    st.start = pkt:reader():u32() == SANE_NET_START
    return
  end
  if not st.start then return end -- a reply to another request
  st.start = false
  if n < 8 then
    log.debug("SANE_NET_START reply too short", { len = n })
    return
  end
  local r = pkt:reader()
  local status, zero, port = r:u32(), r:u16(), r:u16()
  if status ~= 0 then
    log.debug("saned refused SANE_NET_START", { status = status })
    return
  end
  if zero ~= 0 then return end -- not a valid port word
  local orig = conn:tuple("original")
  local ok, err = expect.insert{ src = orig.src, dst = orig.dst, dport = port, l4 = "tcp" }
  if not ok then
    log.warn("cannot add expectation, dropping", { error = err })
    return "drop"
  end
end

return {
  name = "sane",
  l3 = "both",
  l4 = "tcp",
  ports = { 6566 },
  policies = { { name = "sane", max_expected = 1, timeout = 300 } },
  on_packet = on_packet,
}
