package engine

import (
	"fmt"
	"sort"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// unsafeBase are the base library functions removed from the sandbox: they
// load code from files or strings, reach other environments or the Go
// runtime, or print to the daemon's stdout.
var unsafeBase = []string{
	"dofile", "loadfile", "load", "loadstring", "module", "require",
	"getfenv", "setfenv", "collectgarbage", "print", "newproxy", "_printregs",
}

// lockedLibs are the standard library tables scripts see as read-only
// proxies.
var lockedLibs = []string{lua.StringLibName, lua.TabLibName, lua.MathLibName, lua.CoroutineLibName}

// Sizes of a sandbox's Lua state. The registry holds the values on the Lua
// stack; the call stack bounds recursion ("stack overflow" error).
const (
	callStackSize   = 200
	registrySize    = 1024
	registryMaxSize = 256 * 1024
)

// A sandbox is one Lua state for one version of one helper in one worker:
// nothing in it is shared with another helper or another version. Its
// standard library tables, the string metatable and the engine's userdata
// metatables are locked.
type sandbox struct {
	L    *lua.LState
	env  *lua.LTable // the helper's globals; _G is env
	sess *Session
}

// newSandbox returns a sandbox with the safe standard libraries (base
// without the functions above, table, string, math, coroutine; those that
// loop in Go replaced by bounded versions) and a require that only knows
// the engine's modules.
func newSandbox(modules []Module, sess *Session) (*sandbox, error) {
	L := lua.NewState(lua.Options{
		SkipOpenLibs:        true,
		CallStackSize:       callStackSize,
		RegistrySize:        registrySize,
		RegistryMaxSize:     registryMaxSize,
		MinimizeStackMemory: true,
	})
	if err := openLibs(L); err != nil {
		L.Close()
		return nil, err
	}
	g := L.G.Global
	for _, n := range unsafeBase {
		g.RawSetString(n, lua.LNil)
	}
	locked := lockLibs(L)
	g.RawSetString("rawset", L.NewFunction(guardedRawset(locked)))
	g.RawSetString("setmetatable", L.NewFunction(tableSetMetatable))
	g.RawSetString("unpack", L.NewFunction(baseUnpack))
	g.RawSetString("require", L.NewFunction(requireFunc(L, modules, sess)))
	for _, typ := range []string{PacketType, ConnType} {
		mt, ok := L.GetTypeMetatable(typ).(*lua.LTable)
		if !ok {
			mt = L.NewTypeMetatable(typ)
		}
		mt.RawSetString("__metatable", lua.LString("locked"))
	}
	env := L.NewTable()
	env.RawSetString("_G", env)
	mt := L.NewTable()
	mt.RawSetString("__index", g)
	mt.RawSetString("__metatable", lua.LString("locked"))
	env.Metatable = mt
	return &sandbox{L: L, env: env, sess: sess}, nil
}

func openLibs(L *lua.LState) error {
	for _, lib := range []struct {
		name string
		fn   lua.LGFunction
	}{
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
		{lua.CoroutineLibName, lua.OpenCoroutine},
	} {
		if err := L.CallByParam(lua.P{Fn: L.NewFunction(lib.fn), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return fmt.Errorf("open %s: %w", lib.name, err)
		}
	}
	str := L.G.Global.RawGetString(lua.StringLibName).(*lua.LTable)
	L.SetFuncs(str, boundedString)
	str.RawSetString("gfind", str.RawGetString("gmatch"))
	L.SetFuncs(L.G.Global.RawGetString(lua.TabLibName).(*lua.LTable), boundedTable)
	// The string metatable gopher-lua installs is the string table
	// itself; scripts get a locked one instead.
	smt := L.NewTable()
	smt.RawSetString("__index", str)
	smt.RawSetString("__metatable", lua.LString("locked"))
	L.SetMetatable(lua.LString(""), smt)
	return nil
}

// lockLibs replaces the standard library tables in the globals by
// read-only proxies and returns the set of locked tables.
func lockLibs(L *lua.LState) map[*lua.LTable]bool {
	locked := map[*lua.LTable]bool{}
	g := L.G.Global
	for _, name := range lockedLibs {
		real := g.RawGetString(name).(*lua.LTable)
		proxy := readOnly(L, name, real)
		g.RawSetString(name, proxy)
		locked[proxy], locked[real] = true, true
	}
	locked[g] = true
	return locked
}

// readOnly returns a proxy that reads through to t and refuses writes.
func readOnly(L *lua.LState, name string, t *lua.LTable) *lua.LTable {
	proxy := L.NewTable()
	mt := L.NewTable()
	mt.RawSetString("__index", t)
	mt.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("%s is read-only: cannot set %s.%s", name, name, L.Get(2).String())
		return 0
	}))
	mt.RawSetString("__metatable", lua.LString("locked"))
	proxy.Metatable = mt
	return proxy
}

// guardedRawset is rawset refusing the locked tables.
func guardedRawset(locked map[*lua.LTable]bool) lua.LGFunction {
	return func(L *lua.LState) int {
		t := L.CheckTable(1)
		if locked[t] {
			L.RaiseError("rawset: this table is read-only")
		}
		L.RawSet(t, L.CheckAny(2), L.CheckAny(3))
		L.SetTop(1)
		return 1
	}
}

// tableSetMetatable is setmetatable restricted to tables, as in reference
// Lua: gopher-lua's would also replace the metatable of every string or
// number.
func tableSetMetatable(L *lua.LState) int {
	t := L.CheckTable(1)
	L.CheckTypes(2, lua.LTNil, lua.LTTable)
	if mt, ok := t.Metatable.(*lua.LTable); ok && mt.RawGetString("__metatable") != lua.LNil {
		L.RaiseError("cannot change a protected metatable")
	}
	t.Metatable = L.Get(2)
	L.SetTop(1)
	return 1
}

// requireFunc opens the engine's modules in L and returns require.
func requireFunc(L *lua.LState, modules []Module, sess *Session) lua.LGFunction {
	loaded := map[string]lua.LValue{}
	for _, m := range modules {
		v := m.Open(L, sess)
		if v == nil {
			v = lua.LTrue
		}
		loaded[m.Name()] = v
	}
	names := make([]string, 0, len(loaded))
	for n := range loaded {
		names = append(names, n)
	}
	sort.Strings(names)
	return func(L *lua.LState) int {
		name := L.CheckString(1)
		v, ok := loaded[name]
		if !ok {
			L.RaiseError("module %q not found (ctlua modules: %s; scripts cannot load files)", name, strings.Join(names, ", "))
		}
		L.Push(v)
		return 1
	}
}
