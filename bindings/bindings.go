// Package bindings holds the Lua modules, backed by Go, that helper scripts
// use: ctlua.packet, ctlua.conn, ctlua.expect, ctlua.nat, ctlua.conntrack,
// ctlua.log and ctlua.options. Positions are 1-based like Lua's string
// functions (docs/lua-api.md); the Go functions of this package and of the
// engine keep Go's 0-based offsets, converted at the Lua boundary.
//
// The engine hands on_packet two userdata values, a packet and a conn,
// whose methods this package defines. The modules record their effects in
// the engine's Decision for the packet being handled. Expected failures
// return nil and an error string; misuse (wrong argument types, a function
// called outside on_packet) raises an error.
package bindings

import (
	"fmt"

	"github.com/ctlua/ctlua/engine"
)

// Default returns every binding module, the list the daemon and the replay
// give the engine.
func Default() []engine.Module {
	return []engine.Module{
		module{"ctlua.packet", openPacket},
		module{"ctlua.conn", openConn},
		module{"ctlua.expect", openExpect},
		module{"ctlua.nat", openNAT},
		module{"ctlua.conntrack", openConntrack},
		module{"ctlua.log", openLog},
		module{"ctlua.options", openOptions},
		module{"ctlua.iface", openIface},
	}
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
