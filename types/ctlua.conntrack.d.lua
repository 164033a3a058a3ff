---@meta ctlua.conntrack
-- Definitions for lua-language-server: conntrack queries (docs/lua-api.md).

---@class ctlua.ConnInfo
---@field id integer
---@field mark integer
---@field zone integer
---@field helper string
---@field status string[]
---@field orig ctlua.Tuple
---@field reply ctlua.Tuple
---@field master? ctlua.Tuple the master's original tuple

local conntrack = {}

---Looks up the connection with this tuple, in either direction.
---@param t {src: string, dst: string, sport: integer, dport: integer, l4?: "tcp"|"udp"}
---@return ctlua.ConnInfo? entry
---@return string? err
function conntrack.lookup(t) end

---Looks up the master of a related connection.
---@param c ctlua.Conn
---@return ctlua.ConnInfo? entry
---@return string? err
function conntrack.lookup_master(c) end

return conntrack
