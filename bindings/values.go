package bindings

import (
	"github.com/ctlua/ctlua/engine"
	lua "github.com/yuin/gopher-lua"
)

// Boxing a Go value into a lua.LValue allocates; the values a packet's
// methods return most often are boxed once here, so that the common path
// of a helper costs no allocation for them.
var (
	// smallNumbers are the Lua numbers 0..255 (bytes, short lengths).
	smallNumbers [256]lua.LValue
	// dirValues and ctinfoValues are the names of directions and ctinfo
	// values, indexed by value.
	dirValues    [2]lua.LValue
	ctinfoValues [8]lua.LValue
)

func init() {
	for i := range smallNumbers {
		smallNumbers[i] = lua.LNumber(i)
	}
	for i := range dirValues {
		dirValues[i] = lua.LString(engine.Direction(i).String())
	}
	for i := range ctinfoValues {
		ctinfoValues[i] = lua.LString(engine.CTInfo(i).String())
	}
}

// number returns n as a Lua value, without allocating for 0..255.
func number(n int) lua.LValue {
	if n >= 0 && n < len(smallNumbers) {
		return smallNumbers[n]
	}
	return lua.LNumber(n)
}

// dirValue returns the name of d as a Lua string.
func dirValue(d engine.Direction) lua.LValue {
	if int(d) < len(dirValues) {
		return dirValues[d]
	}
	return lua.LString(d.String())
}

// ctinfoValue returns the name of c as a Lua string.
func ctinfoValue(c engine.CTInfo) lua.LValue {
	if int(c) < len(ctinfoValues) {
		return ctinfoValues[c]
	}
	return lua.LString(c.String())
}
