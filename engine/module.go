package engine

import (
	"log/slog"

	lua "github.com/yuin/gopher-lua"
)

// Names of the userdata types the engine passes to on_packet. Modules that
// give them methods register metatables under these names.
const (
	PacketType = "ctlua.packet"
	ConnType   = "ctlua.conn"
)

// A Module is a Lua module that helper scripts load with require. The
// engine opens every module once per Lua state.
type Module interface {
	// Name is the name scripts pass to require.
	Name() string
	// Open builds the module's value for one Lua state. The Session gives
	// the module's functions access to the packet being handled.
	Open(L *lua.LState, s *Session) lua.LValue
}

// A Session belongs to one Lua state and tells modules what that state is
// doing.
type Session struct {
	call      *Call
	conntrack Conntrack
	expecter  Expecter
}

// Call returns the invocation in progress, or nil when the state is not
// handling a packet (for example while the script's chunk runs at load).
func (s *Session) Call() *Call { return s.call }

// Conntrack returns the engine's conntrack query interface, or nil.
func (s *Session) Conntrack() Conntrack { return s.conntrack }

// Expecter returns the engine's Expecter, or nil when expectations can
// only travel in decisions.
func (s *Session) Expecter() Expecter { return s.expecter }

// A Call is one invocation of a helper's on_packet. Modules record their
// effects in its Decision.
type Call struct {
	Helper   *Helper
	Packet   *Packet
	Conn     *Conn
	Decision *Decision
	// Private is the current private data: the kernel's, or what the
	// script set during this call.
	Private []byte
	// Line is where the packet starts in its direction's lines, for a
	// helper that declared lines (pkt:line_start()).
	Line LinePos

	w    *worker
	slot *slot
}

// State returns the per-connection Lua table of the call's connection,
// creating it on first use. It lives until the engine forgets the
// connection, is evicted (least recently used first, when the helper's
// states pass their bound) or idles out; across reloads of the helper it
// is copied to the new version and passed to on_reload.
func (c *Call) State(L *lua.LState) *lua.LTable { return c.w.state(L, c) }

// Log records a log message for the call's helper and connection.
func (c *Call) Log(level slog.Level, msg string, attrs ...slog.Attr) {
	c.w.e.log(c, level, msg, attrs)
}
