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

func init() {
	parseFuncs["sip_header"] = luaSIPHeader
	parseFuncs["sip_uri"] = luaSIPURI
	parseFuncs["sip_param"] = luaSIPParam
	parseFuncs["sdp_line"] = luaSDPLine
	parseFuncs["sip_hostport"] = luaSIPHostPort
}

// luaSIPHostPort is parse.sip_hostport(src, init): addr, port, next of a
// host[:port] (a Via's sent-by).
func luaSIPHostPort(L *lua.LState) int {
	b, off := args(L)
	a, port, next, err := SIPHostPort(b, off)
	if err != nil {
		return failed(L, err)
	}
	L.Push(lua.LString(a.String()))
	L.Push(lua.LNumber(port))
	pushNext(L, next)
	return 3
}

// luaSIPHeader is parse.sip_header(src, init, name): i, j, next of the
// first header called name (or its compact form), or nil.
func luaSIPHeader(L *lua.LState) int {
	b, off := args(L)
	start, end, next, ok := SIPHeader(b, off, L.CheckString(3))
	if !ok {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(lua.LNumber(start + 1))
	L.Push(lua.LNumber(end))
	pushNext(L, next)
	return 3
}

// luaSIPURI is parse.sip_uri(src, init): addr, port, i, next of the first
// sip: URI on the line, where src:sub(i, next - 1) is its host[:port].
func luaSIPURI(L *lua.LState) int {
	b, off := args(L)
	a, port, start, next, err := SIPURI(b, off)
	if err != nil {
		return failed(L, err)
	}
	L.Push(lua.LString(a.String()))
	L.Push(lua.LNumber(port))
	L.Push(lua.LNumber(start + 1))
	pushNext(L, next)
	return 4
}

// luaSIPParam is parse.sip_param(src, init, name): i, j of the value of
// the header parameter name (e.g. "expires="), or nil.
func luaSIPParam(L *lua.LState) int {
	b, off := args(L)
	start, end, ok := SIPParam(b, off, L.CheckString(3))
	if !ok {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(lua.LNumber(start + 1))
	L.Push(lua.LNumber(end))
	return 2
}

// luaSDPLine is parse.sdp_line(src, init, key [, stop]): i, j, next of the
// value of the first SDP line "key=", or nil (also when a "stop=" line
// comes first).
func luaSDPLine(L *lua.LState) int {
	b, off := args(L)
	key := L.CheckString(3)
	stop := L.OptString(4, "")
	if len(key) != 1 || len(stop) > 1 {
		L.ArgError(3, "key and stop must be one letter, as in \"c\" for c= lines")
	}
	var s byte
	if stop != "" {
		s = stop[0]
	}
	start, end, next, ok := SDPLine(b, off, key[0], s)
	if !ok {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(lua.LNumber(start + 1))
	L.Push(lua.LNumber(end))
	pushNext(L, next)
	return 3
}
