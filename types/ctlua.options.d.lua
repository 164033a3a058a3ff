---@meta ctlua.options
-- Definitions for lua-language-server: the helper's declared options.

local options = {}

---A declared option's value, as the configuration set it.
---@param name string
---@return boolean|number|string
function options.get(name) end

return options
