---@meta ctlua.log
-- Definitions for lua-language-server: structured logging, tagged with
-- the helper and the connection, rate-limited per helper.

local log = {}

---@param msg string
---@param fields? table<string, any>
function log.debug(msg, fields) end
---@param msg string
---@param fields? table<string, any>
function log.info(msg, fields) end
---@param msg string
---@param fields? table<string, any>
function log.warn(msg, fields) end
---@param msg string
---@param fields? table<string, any>
function log.error(msg, fields) end

return log
