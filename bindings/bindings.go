// Package bindings holds the Lua modules, backed by Go, that helper scripts
// use: packet, conn, expect, nat, conntrack, log and options.
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
		module{"packet", openPacket},
		module{"conn", openConn},
		module{"expect", openExpect},
		module{"nat", openNAT},
		module{"conntrack", openConntrack},
		module{"log", openLog},
		module{"options", openOptions},
	}
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
