package engine

import (
	lua "github.com/yuin/gopher-lua"
)

// Estimated sizes used to account per-connection state, in bytes: a Lua
// value slot, a table header and one table entry (key and value).
const (
	valueSize = 16
	tableSize = 96
	entrySize = 40
)

// A sizer estimates the bytes held by a Lua value, counting each table
// once. It is reused from call to call, so that measuring a state does not
// allocate.
type sizer struct {
	n, limit int
	visits   []*lua.LTable
	seen     map[*lua.LTable]bool // past smallVisits tables
	entry    func(k, v lua.LValue)
}

// smallVisits is how many tables are remembered in a slice before a map.
const smallVisits = 32

func newSizer() *sizer {
	s := &sizer{}
	s.entry = func(k, v lua.LValue) {
		s.n += entrySize
		s.walk(k)
		s.walk(v)
	}
	return s
}

// sizeOf estimates the bytes held by v. It stops counting once the total
// passes limit, so its cost is bounded by the limit, not by what a script
// built.
func (s *sizer) sizeOf(v lua.LValue, limit int) int {
	s.n, s.limit = 0, limit
	s.walk(v)
	clear(s.visits)
	s.visits = s.visits[:0]
	s.seen = nil
	return s.n
}

func (s *sizer) walk(v lua.LValue) {
	if s.n > s.limit {
		return
	}
	switch v := v.(type) {
	case lua.LString:
		s.n += valueSize + len(v)
	case *lua.LTable:
		if s.visited(v) {
			return
		}
		s.n += tableSize
		v.ForEach(s.entry)
	default:
		s.n += valueSize
	}
}

// visited records t and reports whether it was seen before.
func (s *sizer) visited(t *lua.LTable) bool {
	if s.seen != nil {
		if s.seen[t] {
			return true
		}
		s.seen[t] = true
		return false
	}
	for _, x := range s.visits {
		if x == t {
			return true
		}
	}
	s.visits = append(s.visits, t)
	if len(s.visits) > smallVisits {
		s.seen = map[*lua.LTable]bool{}
		for _, x := range s.visits {
			s.seen[x] = true
		}
	}
	return false
}

// copyData copies the data of v into a value owned by nobody else:
// tables, strings, numbers and booleans. Functions, userdata, coroutines
// and metatables are left out, so that nothing of an old helper version
// survives into the next one. It returns nil past limit estimated bytes.
func copyData(L *lua.LState, v lua.LValue, limit int) (lua.LValue, bool) {
	copies := map[*lua.LTable]*lua.LTable{}
	n := 0
	var cp func(v lua.LValue) lua.LValue
	cp = func(v lua.LValue) lua.LValue {
		switch v := v.(type) {
		case lua.LString:
			n += valueSize + len(v)
			return v
		case lua.LNumber, lua.LBool:
			n += valueSize
			return v
		case *lua.LTable:
			if c, ok := copies[v]; ok {
				return c
			}
			c := L.NewTable()
			copies[v] = c
			n += tableSize
			v.ForEach(func(k, val lua.LValue) {
				if n > limit {
					return
				}
				n += entrySize
				if ck, cv := cp(k), cp(val); ck != lua.LNil && cv != lua.LNil {
					c.RawSet(ck, cv)
				}
			})
			return c
		}
		return lua.LNil
	}
	c := cp(v)
	return c, n <= limit
}
