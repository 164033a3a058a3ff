---@meta ctlua.iface
-- Definitions for lua-language-server: the local interfaces' addresses
-- (the daemon reads them over rtnetlink; `ctlua replay --iface` sets them).

local iface = {}

---@class ctlua.IfaceAddr
---@field name string interface name
---@field addr string the local address
---@field prefix integer prefix length
---@field mask string netmask in address form ("255.255.255.0")
---@field broadcast? string the configured broadcast address, nil when none
---@field secondary boolean a secondary address of its subnet

---The first primary address whose configured broadcast address is addr.
---@param addr string
---@return ctlua.IfaceAddr?
function iface.by_broadcast(addr) end

---The entry of the local address addr, or nil when addr is not local.
---@param addr string
---@return ctlua.IfaceAddr?
function iface.by_addr(addr) end

return iface
