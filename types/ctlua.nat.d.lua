---@meta ctlua.nat
-- Definitions for lua-language-server: payload rewriting (docs/lua-api.md).

local nat = {}

---Replaces the payload bytes i..j (what pkt:sub(i, j) returns, in the
---payload as rewritten so far); j = i - 1 inserts before i.
---@param pkt ctlua.Packet
---@param i integer
---@param j integer
---@param bytes string
---@return true|nil ok
---@return string? err
function nat.replace(pkt, i, j, bytes) end

---The payload as rewritten so far.
---@return string
function nat.payload() end

---Applies several replacements {i, j, bytes} at once, each in the positions
---of the payload before any of them; they must not overlap.
---@param pkt ctlua.Packet
---@param edits [integer, integer, string][]
---@return true|nil ok
---@return string? err
function nat.replace_many(pkt, edits) end

return nat
