// Package types holds the lua-language-server definition files (---@meta)
// of every ctlua module, one file per module. `ctlua new` installs them
// next to a new helper so editors complete and type-check the API; a test
// keeps them in sync with the Go bindings.
package types

import "embed"

// FS holds the definition files, ctlua.MODULE.d.lua.
//
//go:embed *.d.lua
var FS embed.FS
