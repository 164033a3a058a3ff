---@meta ctlua.parse
-- Definitions for lua-language-server: Go-side parsers (stdlib/README.md).
-- Each takes a string or a packet and a 1-based position init (default 1)
-- and returns what it parsed followed by next, the position after it;
-- nil, err on failure ("incomplete" when the input ends too soon).

local parse = {}

---Decimal digits.
---@param src string|ctlua.Packet
---@param init? integer
---@return integer? n
---@return integer|string next_or_err
function parse.uint(src, init) end
---"h1,h2,h3,h4,p1,p2" (FTP PORT, 227).
---@param src string|ctlua.Packet
---@param init? integer
---@return string? addr
---@return integer|string port_or_err
---@return integer next
function parse.port_pair(src, init) end
---RFC 2428 "<d>af<d>addr<d>port<d>".
---@param src string|ctlua.Packet
---@param init? integer
---@return string? addr
---@return integer|string port_or_err
---@return integer af
---@return integer next
function parse.eprt(src, init) end
---RFC 2428 "<d><d><d>port<d>" (FTP 229).
---@param src string|ctlua.Packet
---@param init? integer
---@return integer? port
---@return integer|string next_or_err
function parse.epsv(src, init) end
---A dotted quad.
---@param src string|ctlua.Packet
---@param init? integer
---@return string? addr
---@return integer|string next_or_err
function parse.ipv4(src, init) end
---IPv6 text.
---@param src string|ctlua.Packet
---@param init? integer
---@return string? addr
---@return integer|string next_or_err
function parse.ipv6(src, init) end
---A binary address of n = 4 or 16 bytes.
---@param src string|ctlua.Packet
---@param init integer
---@param n 4|16
---@return string? addr
---@return integer|string next_or_err
function parse.ip_bytes(src, init, n) end
---The position of the first digit at or after init, or nil.
---@param src string|ctlua.Packet
---@param init? integer
---@return integer?
function parse.skip_to_digit(src, init) end
---A line without "\r\n", and the position after its "\n"; nil when no
---"\n" follows.
---@param src string|ctlua.Packet
---@param init? integer
---@return string? line
---@return integer? next
function parse.line(src, init) end
---One "Key: value" line, value trimmed.
---@param src string|ctlua.Packet
---@param init? integer
---@return string? key
---@return string value_or_err
---@return integer next
function parse.header(src, init) end
---The first SIP header called name (or its compact form, e.g. "m" for
---Contact) on a line at or after init, like nf_conntrack_sip: i, j of its
---value (folded lines included) and the position after the header; nil
---when absent.
---@param src string|ctlua.Packet
---@param init integer
---@param name string
---@return integer? i
---@return integer? j
---@return integer? next
function parse.sip_header(src, init, name) end
---The address of the first "sip:" URI on the line at init: addr, port
---(5060 when absent; 1024..65535), the position of the host and the
---position after host[:port].
---@param src string|ctlua.Packet
---@param init integer
---@return string? addr
---@return integer|string port_or_err
---@return integer? i
---@return integer? next
function parse.sip_uri(src, init) end
---host[:port] at init (a Via's sent-by): a dotted quad or a bracketed
---IPv6 address, the port 1024..65535 (5060 when absent).
---@param src string|ctlua.Packet
---@param init integer
---@return string? addr
---@return integer|string port_or_err
---@return integer? next
function parse.sip_hostport(src, init) end
---i, j of the value of a header parameter such as "expires=" in the
---header value at init, before the first ','; nil when absent.
---@param src string|ctlua.Packet
---@param init integer
---@param name string
---@return integer? i
---@return integer? j
function parse.sip_param(src, init, name) end
---i, j and next of the value of the first SDP line "key=" at or after
---init; nil when absent or when a "stop=" line comes first.
---@param src string|ctlua.Packet
---@param init integer
---@param key string
---@param stop? string
---@return integer? i
---@return integer? j
---@return integer? next
function parse.sdp_line(src, init, key, stop) end

---The argument of an IRC DCC request after its type ("SEND "), as the
---kernel's nf_conntrack_irc reads it: a word, the address as a decimal
---integer, the port; at is the position of the address text, so
---src:sub(at, next - 1) is "ADDR PORT".
---@param src string|ctlua.Packet
---@param init? integer
---@return string? addr
---@return integer|string port_or_err
---@return integer at
---@return integer next
function parse.dcc(src, init) end

---The start of an "http://HOST[:PORT]" URL whose host is an address (a
---dotted quad, or IPv6 in brackets); the port is 80 when absent; at is
---the position of the address text, so src:sub(at, next - 1) is
---"ADDR:PORT" for an IPv4 URL. A host name is an error.
---@param src string|ctlua.Packet
---@param init? integer
---@return string? addr
---@return integer|string port_or_err
---@return integer at
---@return integer next
function parse.http_url(src, init) end

return parse
