---@meta ctlua.print
-- Definitions for lua-language-server: print exists only under
-- `ctlua replay` and `ctlua test` (the daemon has no print); its lines
-- show under the packet (replay) or in the test's log.

local M = {}

---@param ... any
function M.print(...) end

return M
