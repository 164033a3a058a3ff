// Package stdlib is the Lua-facing parsing library: Go parsers for the
// text and binary forms protocol helpers meet on their hot paths.
package stdlib

import "github.com/ctlua/ctlua/engine"

// Modules returns the stdlib's Lua modules.
func Modules() []engine.Module {
	return nil
}
