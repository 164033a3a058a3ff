-- tftp: expect the data flow of a TFTP read or write request.
--
-- Like the kernel's nf_conntrack_tftp: a read (RRQ, opcode 1) or write
-- (WRQ, opcode 2) request makes a UDP expectation from the server (any
-- source port: the server answers from a new one) to the client's port.
-- Under NAT the data flow follows the master's translation. See README.md.

local expect = require("ctlua.expect")

local RRQ, WRQ = 1, 2

local function on_packet(pkt, conn)
  local r = pkt:reader()
  local op = r:u16()
  if r:err() or (op ~= RRQ and op ~= WRQ) then return end
  -- The reply tuple: the server as source, the client (as translated) as
  -- destination, the client's port.
  local t = conn:tuple("reply")
  local spec = { src = t.src, dst = t.dst, dport = t.dport, l4 = "udp", policy = "tftp" }
  if conn:is_nat() then
    spec.nat = { dir = "reply", port = conn:tuple("original").sport }
  end
  local ok, err = expect.create(spec)
  if not ok then error(err) end
end

return {
  name = "tftp",
  l3 = "both",
  l4 = "udp",
  ports = { 69 },
  policies = { { name = "tftp", max_expected = 1, timeout = 300 } },
  -- Only requests enter Lua (the opcode, big-endian, begins the payload):
  -- a transfer's DATA and ACK blocks are accepted by the engine.
  match = { string.char(0, RRQ), string.char(0, WRQ) },
  on_packet = on_packet,
}
