// Package bindings holds the Lua modules, backed by Go, that helper scripts
// use: packet, conn, expect, nat, conntrack, log and options.
package bindings

import "github.com/ctlua/ctlua/engine"

// Default returns every binding module, the list the daemon and the replay
// give the engine.
func Default() []engine.Module {
	return nil
}
