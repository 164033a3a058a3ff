---@meta ctlua.conn
-- Definitions for lua-language-server: the connection a helper's
-- on_packet receives (docs/lua-api.md).

---@class ctlua.Tuple
---@field l3 "ipv4"|"ipv6"
---@field l4 "tcp"|"udp"
---@field src string
---@field dst string
---@field sport integer
---@field dport integer

---The connection of the packet being handled (the second argument of
---on_packet).
---@class ctlua.Conn
local Conn = {}
---@return integer
function Conn:id() end
---@return integer
function Conn:mark() end
---@return integer
function Conn:zone() end
---@return integer
function Conn:timeout() end
---The helper's name.
---@return string
function Conn:helper() end
---Source or destination NAT'ed.
---@return boolean
function Conn:is_nat() end
---Whether it came from an expectation.
---@return boolean
function Conn:is_related() end
---The set status flags, sorted.
---@return string[]
function Conn:status() end
---@param name string seen_reply, assured, confirmed, src_nat, dst_nat, expected, ...
---@return boolean
function Conn:has_status(name) end
---The tuple of a direction (default "original").
---@param dir? "original"|"reply"
---@return ctlua.Tuple
function Conn:tuple(dir) end
---The master's original tuple, or nil when not related.
---@return ctlua.Tuple?
function Conn:master() end
---A table kept for the life of the connection, across reloads.
---@return table
function Conn:state() end
---The kernel-kept private data (private_size bytes).
---@return string
function Conn:private() end
---@param s string at most private_size bytes; zero-padded
function Conn:set_private(s) end
---@param n integer
function Conn:set_mark(n) end
---@param seconds integer
function Conn:set_timeout(seconds) end
---@param bits string 16 bytes
---@param mask? string 16 bytes
function Conn:set_labels(bits, mask) end

---The conn module: the methods as functions (conn.tuple(c) is c:tuple()).
---@class ctlua.conn: ctlua.Conn
local conn = {}

return conn
