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

// newSandbox returns a Lua state with only the safe standard libraries
// (base without the functions above, table, string, math, coroutine) and a
// require that only knows the engine's modules.
func newSandbox(modules []Module, s *Session) (*lua.LState, error) {
	L := lua.NewState(lua.Options{
		SkipOpenLibs:        true,
		CallStackSize:       200,
		RegistrySize:        1024,
		RegistryMaxSize:     1024 * 1024,
		MinimizeStackMemory: true,
	})
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
			L.Close()
			return nil, fmt.Errorf("open %s: %w", lib.name, err)
		}
	}
	g := L.G.Global
	for _, n := range unsafeBase {
		g.RawSetString(n, lua.LNil)
	}
	// string.dump and the string metatable's access to the string table are
	// harmless in gopher-lua; nothing else in these libraries touches files.

	loaded := map[string]lua.LValue{}
	for _, m := range modules {
		v := m.Open(L, s)
		if v == nil {
			v = lua.LTrue
		}
		loaded[m.Name()] = v
	}
	for _, typ := range []string{PacketType, ConnType} {
		if _, ok := L.GetTypeMetatable(typ).(*lua.LTable); !ok {
			L.NewTypeMetatable(typ)
		}
	}
	names := make([]string, 0, len(loaded))
	for n := range loaded {
		names = append(names, n)
	}
	sort.Strings(names)
	g.RawSetString("require", L.NewFunction(func(L *lua.LState) int {
		name := L.CheckString(1)
		v, ok := loaded[name]
		if !ok {
			L.RaiseError("module %q not found (ctlua modules: %s; scripts cannot load files)", name, strings.Join(names, ", "))
		}
		L.Push(v)
		return 1
	}))
	return L, nil
}

// newEnv returns a fresh global environment for one helper version: its
// own table for globals, reading through to the sandbox's globals.
func newEnv(L *lua.LState) *lua.LTable {
	env := L.NewTable()
	mt := L.NewTable()
	mt.RawSetString("__index", L.G.Global)
	L.SetMetatable(env, mt)
	return env
}
