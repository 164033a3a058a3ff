package bindings

import (
	"log/slog"
	"sort"

	"github.com/ctlua/ctlua/engine"
	lua "github.com/yuin/gopher-lua"
)

// openLog builds the log module: log.debug/info/warn/error(msg [, fields])
// records structured messages tagged with the helper and connection. The
// engine rate-limits what reaches the daemon's log.
func openLog(L *lua.LState, s *engine.Session) lua.LValue {
	level := func(lv slog.Level) lua.LGFunction {
		return func(L *lua.LState) int {
			msg := L.CheckString(1)
			c := s.Call()
			if c == nil {
				return 0 // logging while the chunk loads goes nowhere
			}
			var attrs []slog.Attr
			if t, ok := L.Get(2).(*lua.LTable); ok {
				t.ForEach(func(k, v lua.LValue) {
					attrs = append(attrs, slog.String(k.String(), v.String()))
				})
				sort.Slice(attrs, func(i, j int) bool { return attrs[i].Key < attrs[j].Key })
			}
			c.Log(lv, msg, attrs...)
			return 0
		}
	}
	return L.SetFuncs(L.NewTable(), map[string]lua.LGFunction{
		"debug": level(slog.LevelDebug),
		"info":  level(slog.LevelInfo),
		"warn":  level(slog.LevelWarn),
		"error": level(slog.LevelError),
	})
}

// openOptions builds the options module: options.get(name) returns the
// value of a declared helper option, as overridden by configuration.
func openOptions(L *lua.LState, s *engine.Session) lua.LValue {
	return L.SetFuncs(L.NewTable(), map[string]lua.LGFunction{
		"get": func(L *lua.LState) int {
			name := L.CheckString(1)
			c := call(L, s, "options.get")
			v, ok := c.Helper.Spec.Options[name]
			if !ok {
				L.ArgError(1, sprintf("helper %s declares no option %q", c.Helper.Spec.Name, name))
			}
			switch v := v.(type) {
			case bool:
				L.Push(lua.LBool(v))
			case float64:
				L.Push(lua.LNumber(v))
			case string:
				L.Push(lua.LString(v))
			default:
				L.Push(lua.LNil)
			}
			return 1
		},
	})
}
