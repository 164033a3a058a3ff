---@meta ctlua.packet
-- Definitions for lua-language-server: the packet a helper's on_packet
-- receives, and the binary reader. Positions are 1-based, like
-- string.find and string.sub (docs/lua-api.md).

---@alias ctlua.Dir "original"|"reply"
---@alias ctlua.CTInfo "new"|"established"|"related"|"established_reply"|"related_reply"

---The packet being handled (the first argument of on_packet). Valid only
---during the on_packet call.
---@class ctlua.Packet
local Packet = {}

---@return ctlua.Dir
function Packet:dir() end
---@return boolean
function Packet:is_reply() end
---@return ctlua.CTInfo
function Packet:ctinfo() end
---@return "ipv4"|"ipv6"
function Packet:l3() end
---@return "tcp"|"udp"
function Packet:l4() end
---Source address as text, as on the wire (after NAT).
---@return string
function Packet:src() end
---@return string
function Packet:dst() end
---@return integer
function Packet:sport() end
---@return integer
function Packet:dport() end
---TCP sequence number.
---@return integer
function Packet:seq() end
---@return integer
function Packet:ack() end
---@return integer
function Packet:tcp_flags() end
---@param name "fin"|"syn"|"rst"|"psh"|"ack"|"urg"
---@return boolean
function Packet:has_flag(name) end
---Payload length in bytes.
---@return integer
function Packet:len() end
---A copy of the payload (allocates).
---@return string
function Packet:payload() end
---The bytes i..j, exactly pkt:payload():sub(i, j).
---@param i? integer
---@param j? integer
---@return string
function Packet:sub(i, j) end
---The byte at position i (default 1), or nil past the end.
---@param i? integer
---@return integer?
function Packet:byte(i) end
---Whether the payload has s at position init (default 1).
---@param s string
---@param init? integer
---@return boolean
function Packet:prefix(s, init) end
---Like prefix, ASCII case-insensitive.
---@param s string
---@param init? integer
---@return boolean
function Packet:iprefix(s, init) end
---The positions i, j of the first plain s at or after init, or nil.
---@param s string
---@param init? integer
---@return integer? i
---@return integer? j
function Packet:find(s, init) end
---The line at init without "\r\n", and the position after its "\n"; nil
---when no "\n" follows.
---@param init? integer
---@return string? line
---@return integer? next
function Packet:line(init) end
---Where the segment starts in its direction's lines, for a helper that
---declared `lines = true` (an error otherwise): true right after a newline,
---false inside a line, nil when no segment of this direction has ended in
---a newline yet (a new connection, or one whose history the engine lacks).
---@return boolean?
function Packet:line_start() end
---Iterator over complete lines: for line, next in pkt:lines() do ... end
---@return fun(): string, integer
function Packet:lines() end
---A binary reader over the payload from position init (default 1).
---@param init? integer
---@return ctlua.Reader
function Packet:reader(init) end

---A binary reader with a sticky error: reads past the end return 0 or ""
---and r:err() says what happened.
---@class ctlua.Reader
local Reader = {}
---@return integer
function Reader:u8() end
---Big endian.
---@return integer
function Reader:u16() end
---Big endian.
---@return integer
function Reader:u32() end
---@return integer
function Reader:u16le() end
---@return integer
function Reader:u32le() end
---@param n integer
---@return string
function Reader:bytes(n) end
---@param n integer
function Reader:skip(n) end
---The 1-based position of the next byte it reads.
---@return integer
function Reader:pos() end
---@return integer
function Reader:remaining() end
---@return string?
function Reader:err() end

---The packet module: the packet methods as functions (packet.find(pkt, s)
---is pkt:find(s)) and reader.
---@class ctlua.packet: ctlua.Packet
local packet = {}

---A reader over a string or a packet's payload from position init.
---@param src string|ctlua.Packet
---@param init? integer
---@return ctlua.Reader
function packet.reader(src, init) end

return packet
