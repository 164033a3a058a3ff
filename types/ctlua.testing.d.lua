---@meta ctlua.testing
-- Definitions for lua-language-server: the module of *_test.lua files
-- (`ctlua test`; docs/lua-api.md, "Testing a helper").

---@class ctlua.testing.Expectation
---@field src string
---@field dst string
---@field sport integer
---@field dport integer
---@field mask_src string
---@field mask_dst string
---@field mask_sport integer
---@field mask_dport integer
---@field l4 "tcp"|"udp"
---@field policy string
---@field class integer
---@field helper string
---@field permanent boolean
---@field nat_dir? "original"|"reply"
---@field nat_port? integer
---@field inserted boolean

---@class ctlua.testing.Result
---@field verdict "accept"|"drop"
---@field error? string
---@field expectations ctlua.testing.Expectation[]
---@field removed ctlua.testing.Expectation[] what expect.remove removed
---@field logs {level: string, msg: string, fields: table<string, string>}[]
---@field packet? string the rewritten payload
---@field checksums_ok? boolean

---The test object every Test function receives.
---@class ctlua.testing.T
local T = {}
---@param got any
---@param want any
---@param what? string
function T:eq(got, want, what) end
---Fails the test and goes on.
---@param format string
---@param ... any
function T:errorf(format, ...) end
---Fails the test and stops it.
---@param format string
---@param ... any
function T:fatalf(format, ...) end
---Shown with -v or when the test fails.
---@param format string
---@param ... any
function T:log(format, ...) end

---@class ctlua.testing.Helper
local Helper = {}
---@param spec {client?: string, server?: string, sport?: integer, dport?: integer, l4?: "tcp"|"udp", nat?: {client?: string, server?: string}}
---@return ctlua.testing.Conn
function Helper:conn(spec) end
---Another connection's expectation now holds this tuple.
---@param spec {src: string, dst: string, dport: integer, l4?: "tcp"|"udp"}
function Helper:occupy(spec) end

---@class ctlua.testing.Conn
local TestConn = {}
---Runs one packet through the helper.
---@param dir "original"|"reply"
---@param payload string
---@param opts? {ctinfo?: ctlua.CTInfo, seq?: integer}
---@return ctlua.testing.Result
function TestConn:send(dir, payload, opts) end
---The connection's live expectations (inserted, or sent with a verdict; not removed).
---@return ctlua.testing.Expectation[]
function TestConn:expectations() end

local testing = {}

---Loads a helper (path relative to the test file) into a real engine.
---@param path string
---@param options? table<string, boolean|number|string>
---@return ctlua.testing.Helper
function testing.load(path, options) end

return testing
