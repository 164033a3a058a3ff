// Package scripts embeds the helpers ctlua ships, one folder each with its
// helper.lua, tests and README. The daemon runs them when no configuration
// names other scripts.
package scripts

import "embed"

// FS holds every shipped helper as NAME/helper.lua.
//
//go:embed */helper.lua
var FS embed.FS
