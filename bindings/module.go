package bindings

import (
	"github.com/ctlua/ctlua/engine"
	lua "github.com/yuin/gopher-lua"
)

// module adapts a name and an open function to engine.Module.
type module struct {
	name string
	open func(L *lua.LState, s *engine.Session) lua.LValue
}

func (m module) Name() string                                     { return m.name }
func (m module) Open(L *lua.LState, s *engine.Session) lua.LValue { return m.open(L, s) }

// call returns the invocation in progress or raises an error naming fn.
func call(L *lua.LState, s *engine.Session, fn string) *engine.Call {
	c := s.Call()
	if c == nil {
		L.RaiseError("%s: %v", fn, engine.ErrNoCall)
	}
	return c
}

// fail returns nil, msg to Lua: the convention for expected failures.
func fail(L *lua.LState, format string, args ...any) int {
	L.Push(lua.LNil)
	if len(args) > 0 {
		L.Push(lua.LString(sprintf(format, args...)))
	} else {
		L.Push(lua.LString(format))
	}
	return 2
}

// tupleTable converts a tuple to {l3, l4, src, dst, sport, dport}.
func tupleTable(L *lua.LState, t engine.Tuple) *lua.LTable {
	tb := L.CreateTable(0, 6)
	l3 := "ipv4"
	if t.IsIPv6() {
		l3 = "ipv6"
	}
	tb.RawSetString("l3", lua.LString(l3))
	tb.RawSetString("l4", lua.LString(engine.ProtoName(t.Proto)))
	tb.RawSetString("src", lua.LString(t.Src.String()))
	tb.RawSetString("dst", lua.LString(t.Dst.String()))
	tb.RawSetString("sport", lua.LNumber(t.SrcPort))
	tb.RawSetString("dport", lua.LNumber(t.DstPort))
	return tb
}

// optInt returns the optional integer argument n, or def.
func optInt(L *lua.LState, n, def int) int {
	v := L.Get(n)
	if v == lua.LNil {
		return def
	}
	f, ok := v.(lua.LNumber)
	if !ok || f != lua.LNumber(int(f)) {
		L.ArgError(n, "integer expected")
	}
	return int(f)
}
