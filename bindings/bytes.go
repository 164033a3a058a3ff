package bindings

import (
	"unsafe"

	"github.com/ctlua/ctlua/engine"
	lua "github.com/yuin/gopher-lua"
)

// CheckBytes returns the bytes of argument n without copying: a Lua
// string's bytes, or a packet's L4 payload. The result must not be
// modified. It raises an argument error for other types.
func CheckBytes(L *lua.LState, n int) []byte {
	switch v := L.Get(n).(type) {
	case lua.LString:
		return unsafe.Slice(unsafe.StringData(string(v)), len(v))
	case *lua.LUserData:
		if p, ok := v.Value.(*engine.Packet); ok {
			return p.Payload()
		}
	}
	L.ArgError(n, "string or packet expected")
	return nil
}
