---@meta ctlua.expect
-- Definitions for lua-language-server: expectations (docs/lua-api.md).

---@class ctlua.ExpectSpec
---@field dst string destination address (required; the connection's family)
---@field src? string source address, nil for any
---@field src_mask? string netmask for src ("255.255.255.0"), default all ones
---@field sport? integer nil for any
---@field dport? integer nil for any
---@field l4? "tcp"|"udp" default: the connection's
---@field policy? string default: the first declared
---@field permanent? boolean
---@field inactive? boolean
---@field helper? string helper of the expected connection
---@field nat? {dir: "original"|"reply", port: integer, addr?: string}
---@field fn? string expectation function name

local expect = {}

---Validates an expectation and adds it to the packet's verdict.
---@param spec ctlua.ExpectSpec
---@return true|nil ok
---@return string? err
function expect.create(spec) end

---@class ctlua.AnswersSpec
---@field dst? string default: the reply tuple's destination (the requester)
---@field src? string|"any" default any, or the reply tuple's source when src_mask is given
---@field src_mask? string netmask for src: answers from any host of a subnet
---@field sport? integer|"any" default: the reply tuple's source port
---@field dport? integer default: the reply tuple's destination port
---@field l4? "tcp"|"udp" default: the connection's
---@field policy? string default: the first declared
---@field permanent? boolean default true
---@field inactive? boolean
---@field helper? string helper of the expected connection
---@field nat? {dir: "original"|"reply", port: integer, addr?: string}
---@field fn? string expectation function name

---Expects the answers to a request sent to a group or broadcast address:
---expect.create of the reply tuple from any source (or the reply tuple's
---source masked with src_mask), permanent; any field may be replaced.
---@param spec? ctlua.AnswersSpec
---@return true|nil ok
---@return string? err
function expect.answers(spec) end

---Inserts an expectation at once; nil, err when the kernel refuses it.
---@param spec ctlua.ExpectSpec
---@return true|nil ok
---@return string? err
function expect.insert(spec) end

---Inserts with the kernel's NAT port hunting; returns the port it got.
---@param spec ctlua.ExpectSpec
---@return integer? port
---@return string? err
function expect.hunt(spec) end

---@class ctlua.ExpectFilter
---@field policy? string|string[] a name or a list of names
---@field l4? "tcp"|"udp"
---@field src? string
---@field dst? string
---@field sport? integer
---@field dport? integer

---@class ctlua.LiveExpectation
---@field src? string nil for any
---@field dst string
---@field sport? integer nil for any
---@field dport integer
---@field l4 "tcp"|"udp"
---@field policy string
---@field helper? string
---@field permanent boolean
---@field inactive boolean

---Lists the connection's live expectations that pass the filter, oldest first.
---@param filter? ctlua.ExpectFilter
---@return ctlua.LiveExpectation[]|nil list
---@return string? err
function expect.list(filter) end

---Removes the connection's live expectations that pass the filter (all without one); returns how many.
---@param filter? ctlua.ExpectFilter
---@return integer? removed
---@return string? err
function expect.remove(filter) end

return expect
