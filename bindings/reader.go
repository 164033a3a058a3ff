package bindings

import (
	"encoding/binary"
	"fmt"

	lua "github.com/yuin/gopher-lua"
)

const readerType = "ctlua.reader"

// A reader reads binary fields from a byte slice with a sticky error: after
// the first read past the end every read returns 0 or "", and err() tells
// what went wrong. Scripts parse a whole header and check once.
type reader struct {
	b   []byte
	pos int
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || r.pos+n > len(r.b) {
		r.err = fmt.Errorf("read of %d bytes at position %d past the end (%d bytes)", n, r.pos+1, len(r.b))
		return nil
	}
	b := r.b[r.pos : r.pos+n]
	r.pos += n
	return b
}

func openReader(L *lua.LState) {
	mt := L.NewTypeMetatable(readerType)
	L.SetField(mt, "__index", L.SetFuncs(L.NewTable(), readerMethods))
}

// pushReader pushes a reader over b starting at the 0-based offset off.
func pushReader(L *lua.LState, b []byte, off int) int {
	r := &reader{b: b, pos: off}
	if off < 0 || off > len(b) {
		r.err = fmt.Errorf("start position %d outside %d bytes", off+1, len(b))
	}
	ud := L.NewUserData()
	ud.Value = r
	L.SetMetatable(ud, L.GetTypeMetatable(readerType))
	L.Push(ud)
	return 1
}

func checkReader(L *lua.LState) *reader {
	if r, ok := L.CheckUserData(1).Value.(*reader); ok {
		return r
	}
	L.ArgError(1, "reader expected")
	return nil
}

func readUint(n int, f func([]byte) uint64) lua.LGFunction {
	return func(L *lua.LState) int {
		b := checkReader(L).take(n)
		if b == nil {
			L.Push(lua.LNumber(0))
			return 1
		}
		L.Push(lua.LNumber(f(b)))
		return 1
	}
}

var readerMethods = map[string]lua.LGFunction{
	"u8":    readUint(1, func(b []byte) uint64 { return uint64(b[0]) }),
	"u16":   readUint(2, func(b []byte) uint64 { return uint64(binary.BigEndian.Uint16(b)) }),
	"u32":   readUint(4, func(b []byte) uint64 { return uint64(binary.BigEndian.Uint32(b)) }),
	"u16le": readUint(2, func(b []byte) uint64 { return uint64(binary.LittleEndian.Uint16(b)) }),
	"u32le": readUint(4, func(b []byte) uint64 { return uint64(binary.LittleEndian.Uint32(b)) }),
	"bytes": func(L *lua.LState) int {
		b := checkReader(L).take(L.CheckInt(2))
		L.Push(lua.LString(b))
		return 1
	},
	"skip": func(L *lua.LState) int {
		checkReader(L).take(L.CheckInt(2))
		return 0
	},
	"pos": func(L *lua.LState) int {
		L.Push(lua.LNumber(checkReader(L).pos + 1)) // the 1-based position of the next byte
		return 1
	},
	"remaining": func(L *lua.LState) int {
		r := checkReader(L)
		L.Push(lua.LNumber(max(len(r.b)-r.pos, 0)))
		return 1
	},
	"err": func(L *lua.LState) int {
		if r := checkReader(L); r.err != nil {
			L.Push(lua.LString(r.err.Error()))
			return 1
		}
		L.Push(lua.LNil)
		return 1
	},
}
