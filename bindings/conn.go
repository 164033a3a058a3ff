package bindings

import (
	"sort"

	"github.com/ctlua/ctlua/engine"
	lua "github.com/yuin/gopher-lua"
)

// openConn registers the conn type: the connection of the packet being
// handled, with its tuples, status, per-connection state and the setters
// that become conntrack updates in the verdict.
func openConn(L *lua.LState, s *engine.Session) lua.LValue {
	mt := L.NewTypeMetatable(engine.ConnType)
	methods := connReaders()
	for name, f := range connSessionMethods(s) {
		methods[name] = f
	}
	L.SetField(mt, "__index", L.SetFuncs(L.NewTable(), methods))
	mod := L.SetFuncs(L.NewTable(), methods)
	L.SetField(mt, "__tostring", L.NewFunction(func(L *lua.LState) int {
		c := checkConn(L)
		L.Push(lua.LString(sprintf("conn %d %s", c.ID, c.Orig)))
		return 1
	}))
	// The module table holds the methods as functions: conn.tuple(c) is
	// c:tuple().
	return mod
}

// connReaders are the methods that read what the kernel reported of the
// connection: they work on any conn, also one a test built.
func connReaders() map[string]lua.LGFunction {
	return map[string]lua.LGFunction{
		"id":         func(L *lua.LState) int { L.Push(lua.LNumber(checkConn(L).ID)); return 1 },
		"mark":       func(L *lua.LState) int { L.Push(lua.LNumber(checkConn(L).Mark)); return 1 },
		"zone":       func(L *lua.LState) int { L.Push(lua.LNumber(checkConn(L).Zone)); return 1 },
		"timeout":    func(L *lua.LState) int { L.Push(lua.LNumber(checkConn(L).Timeout)); return 1 },
		"helper":     func(L *lua.LState) int { L.Push(lua.LString(checkConn(L).Helper)); return 1 },
		"is_nat":     func(L *lua.LState) int { L.Push(lua.LBool(checkConn(L).IsNAT())); return 1 },
		"is_related": func(L *lua.LState) int { L.Push(lua.LBool(checkConn(L).Master != nil)); return 1 },
		"status":     func(L *lua.LState) int { L.Push(statusTable(L, checkConn(L).Status)); return 1 },
		"has_status": connHasStatus,
		"tuple":      connTuple,
		"master":     connMaster,
	}
}

func connHasStatus(L *lua.LState) int {
	c := checkConn(L)
	bit, ok := engine.StatusNames[L.CheckString(2)]
	if !ok {
		L.ArgError(2, "unknown status flag (known: seen_reply, assured, confirmed, src_nat, dst_nat, expected, ...)")
	}
	L.Push(lua.LBool(c.Status&bit != 0))
	return 1
}

func connTuple(L *lua.LState) int {
	c := checkConn(L)
	dir := engine.Original
	if L.GetTop() >= 2 {
		d, err := engine.ParseDirection(L.CheckString(2))
		if err != nil {
			L.ArgError(2, err.Error())
		}
		dir = d
	}
	L.Push(tupleTable(L, c.Tuple(dir)))
	return 1
}

func connMaster(L *lua.LState) int {
	c := checkConn(L)
	if c.Master == nil {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(tupleTable(L, *c.Master))
	return 1
}

// connSessionMethods are the methods that need the call in progress: the
// per-connection state, the private data, and the updates the verdict
// carries.
func connSessionMethods(s *engine.Session) map[string]lua.LGFunction {
	return map[string]lua.LGFunction{
		"state": func(L *lua.LState) int {
			L.Push(current(L, s, "conn:state").State(L))
			return 1
		},
		"private": func(L *lua.LState) int {
			L.Push(lua.LString(current(L, s, "conn:private").Private))
			return 1
		},
		"set_private": func(L *lua.LState) int { return connSetPrivate(L, current(L, s, "conn:set_private")) },
		"set_mark": func(L *lua.LState) int {
			c := current(L, s, "conn:set_mark")
			c.Decision.Update.Mark, c.Decision.Update.MarkSet = uint32(checkUint(L, 2, 0xffffffff)), true
			return 0
		},
		"set_timeout": func(L *lua.LState) int {
			c := current(L, s, "conn:set_timeout")
			c.Decision.Update.Timeout, c.Decision.Update.TimeoutSet = uint32(checkUint(L, 2, 0xffffffff)), true
			return 0
		},
		"set_labels": func(L *lua.LState) int { return connSetLabels(L, current(L, s, "conn:set_labels")) },
	}
}

func connSetPrivate(L *lua.LState, c *engine.Call) int {
	v := L.CheckString(2)
	size := c.Helper.Spec.PrivateSize
	if len(v) > size {
		L.ArgError(2, sprintf("private data is %d bytes, helper %s declares private_size = %d", len(v), c.Helper.Spec.Name, size))
	}
	b := make([]byte, size)
	copy(b, v)
	c.Private = b
	c.Decision.Update.Private, c.Decision.Update.PrivateSet = b, true
	return 0
}

func connSetLabels(L *lua.LState, c *engine.Call) int {
	labels, mask := L.CheckString(2), L.OptString(3, "")
	if len(labels) != 16 || (mask != "" && len(mask) != 16) {
		L.ArgError(2, "labels and mask must be 16-byte strings")
	}
	if mask == "" {
		mask = string(bytesRepeat(0xff, 16))
	}
	u := &c.Decision.Update
	u.Labels, u.LabelsMask, u.LabelsSet = []byte(labels), []byte(mask), true
	return 0
}

// statusTable lists the names of the set status bits, sorted.
func statusTable(L *lua.LState, s engine.Status) *lua.LTable {
	names := make([]string, 0, 4)
	for n, bit := range engine.StatusNames {
		if s&bit != 0 {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	t := L.CreateTable(len(names), 0)
	for _, n := range names {
		t.Append(lua.LString(n))
	}
	return t
}

// checkConn returns the conn argument 1.
func checkConn(L *lua.LState) *engine.Conn {
	ud := L.CheckUserData(1)
	if c, ok := ud.Value.(*engine.Conn); ok {
		return c
	}
	if ud.Metatable == L.GetTypeMetatable(engine.ConnType) {
		L.RaiseError("conn used after its on_packet call returned")
	}
	L.ArgError(1, "conn expected")
	return nil
}

// current returns the call whose conn is argument 1.
func current(L *lua.LState, s *engine.Session, fn string) *engine.Call {
	conn := checkConn(L)
	c := call(L, s, fn)
	if c.Conn != conn {
		L.RaiseError("%s: conn is not the connection being handled", fn)
	}
	return c
}

// checkUint returns argument n as an integer in 0..max.
func checkUint(L *lua.LState, n int, max uint64) uint64 {
	f := L.CheckNumber(n)
	if f < 0 || float64(f) > float64(max) || f != lua.LNumber(uint64(f)) {
		L.ArgError(n, sprintf("integer 0..%d expected, got %v", max, f))
	}
	return uint64(f)
}

func bytesRepeat(b byte, n int) []byte {
	s := make([]byte, n)
	for i := range s {
		s[i] = b
	}
	return s
}
