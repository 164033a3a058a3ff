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

// sizeOf estimates the bytes held by the Lua value v, counting each table
// once. It stops counting once the total passes limit, so its cost is
// bounded by the limit, not by what a script built.
func (t *stateTable) sizeOf(v lua.LValue, limit int) int {
	visits := t.sizeVisits[:0]
	n := 0
	var walk func(v lua.LValue)
	walk = func(v lua.LValue) {
		if n > limit {
			return
		}
		switch v := v.(type) {
		case lua.LString:
			n += valueSize + len(v)
		case *lua.LTable:
			for _, seen := range visits {
				if seen == v {
					return
				}
			}
			visits = append(visits, v)
			n += tableSize
			v.ForEach(func(k, val lua.LValue) {
				n += entrySize
				walk(k)
				walk(val)
			})
		default:
			n += valueSize
		}
	}
	walk(v)
	clear(visits)
	t.sizeVisits = visits[:0]
	return n
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
