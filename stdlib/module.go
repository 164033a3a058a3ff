package stdlib

import (
	"errors"

	"github.com/ctlua/ctlua/bindings"
	"github.com/ctlua/ctlua/engine"
	lua "github.com/yuin/gopher-lua"
)

// Modules returns the stdlib's Lua modules: ctlua.parse.
func Modules() []engine.Module { return []engine.Module{parseModule{}} }

type parseModule struct{}

func (parseModule) Name() string { return "ctlua.parse" }

func (parseModule) Open(L *lua.LState, _ *engine.Session) lua.LValue {
	return L.SetFuncs(L.NewTable(), parseFuncs)
}

// args returns the src and init arguments every parse function takes,
// init (1-based, default 1) converted to a 0-based offset.
func args(L *lua.LState) ([]byte, int) {
	b := bindings.CheckBytes(L, 1)
	init := L.OptInt(2, 1)
	if init < 1 {
		L.ArgError(2, "position must be >= 1 (positions are 1-based)")
	}
	return b, init - 1
}

// pushNext pushes the 0-based offset next as the 1-based position after
// what was parsed.
func pushNext(L *lua.LState, next int) { L.Push(lua.LNumber(next + 1)) }

func failed(L *lua.LState, err error) int {
	L.Push(lua.LNil)
	if errors.Is(err, ErrIncomplete) {
		L.Push(lua.LString("incomplete"))
	} else {
		L.Push(lua.LString(err.Error()))
	}
	return 2
}

var parseFuncs = map[string]lua.LGFunction{
	"uint": func(L *lua.LState) int {
		b, off := args(L)
		v, next, ok := ParseUint(b, off)
		if !ok {
			return failed(L, errors.New("uint: no number"))
		}
		L.Push(lua.LNumber(v))
		pushNext(L, next)
		return 2
	},
	"port_pair": func(L *lua.LState) int {
		b, off := args(L)
		a, p, next, err := ParsePortPair(b, off)
		if err != nil {
			return failed(L, err)
		}
		L.Push(lua.LString(a.String()))
		L.Push(lua.LNumber(p))
		pushNext(L, next)
		return 3
	},
	"eprt": func(L *lua.LState) int {
		b, off := args(L)
		a, p, af, next, err := ParseEPRT(b, off)
		if err != nil {
			return failed(L, err)
		}
		L.Push(lua.LString(a.String()))
		L.Push(lua.LNumber(p))
		L.Push(lua.LNumber(af))
		pushNext(L, next)
		return 4
	},
	"epsv": func(L *lua.LState) int {
		b, off := args(L)
		p, next, err := ParseEPSV(b, off)
		if err != nil {
			return failed(L, err)
		}
		L.Push(lua.LNumber(p))
		pushNext(L, next)
		return 2
	},
	"ipv4": func(L *lua.LState) int {
		b, off := args(L)
		a, next, err := ParseIPv4Text(b, off)
		if err != nil {
			return failed(L, err)
		}
		L.Push(lua.LString(a.String()))
		pushNext(L, next)
		return 2
	},
	"ipv6": func(L *lua.LState) int {
		b, off := args(L)
		a, next, err := ParseIPv6Text(b, off)
		if err != nil {
			return failed(L, err)
		}
		L.Push(lua.LString(a.String()))
		pushNext(L, next)
		return 2
	},
	"ip_bytes": func(L *lua.LState) int {
		b, off := args(L)
		n := L.CheckInt(3)
		a, err := ParseIP(b, off, n)
		if err != nil {
			return failed(L, err)
		}
		L.Push(lua.LString(a.String()))
		pushNext(L, off+n)
		return 2
	},
	"skip_to_digit": func(L *lua.LState) int {
		b, off := args(L)
		next, ok := SkipToDigit(b, off)
		if !ok {
			L.Push(lua.LNil)
			return 1
		}
		pushNext(L, next)
		return 1
	},
	"line": func(L *lua.LState) int {
		b, off := args(L)
		line, next, ok := Line(b, off)
		if !ok {
			L.Push(lua.LNil)
			return 1
		}
		L.Push(lua.LString(line))
		pushNext(L, next)
		return 2
	},
	"header": func(L *lua.LState) int {
		b, off := args(L)
		k, v, next, err := ParseHeader(b, off)
		if err != nil {
			return failed(L, err)
		}
		L.Push(lua.LString(k))
		L.Push(lua.LString(v))
		pushNext(L, next)
		return 3
	},
}
