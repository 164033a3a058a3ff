package engine

import (
	"strings"

	"github.com/ctlua/ctlua/engine/internal/pattern"
	lua "github.com/yuin/gopher-lua"
)

// strGsub is string.gsub in linear time, with its result bounded by
// MaxStringLen.
func strGsub(L *lua.LState) int {
	str, pat := L.CheckString(1), L.CheckString(2)
	L.CheckTypes(3, lua.LTString, lua.LTNumber, lua.LTTable, lua.LTFunction)
	repl := L.Get(3)
	mds := find(L, "gsub", pat, str, 0, L.OptInt(4, -1))
	var b strings.Builder
	last := 0
	for _, md := range mds {
		start, end := md.Capture(0), md.Capture(1)
		b.WriteString(str[last:start])
		b.WriteString(replacement(L, str, md, repl))
		last = end
		if b.Len() > MaxStringLen {
			L.RaiseError("string.gsub: result longer than %d bytes", MaxStringLen)
		}
	}
	b.WriteString(str[last:])
	if b.Len() > MaxStringLen {
		L.RaiseError("string.gsub: result longer than %d bytes", MaxStringLen)
	}
	L.Push(lua.LString(b.String()))
	L.Push(lua.LNumber(len(mds)))
	return 2
}

// replacement returns the text that replaces one match.
func replacement(L *lua.LState, str string, md *pattern.MatchData, repl lua.LValue) string {
	whole := str[md.Capture(0):md.Capture(1)]
	var v lua.LValue
	switch r := repl.(type) {
	case lua.LString, lua.LNumber:
		return expandRepl(L, str, md, r.String())
	case *lua.LTable:
		v = L.GetTable(r, capture(L, str, md, 1))
	case *lua.LFunction:
		top := L.GetTop()
		L.Push(r)
		n := pushCaptures(L, str, md, true)
		L.Call(n, 1)
		v = L.Get(-1)
		L.SetTop(top)
	}
	switch v := v.(type) {
	case *lua.LNilType:
		return whole
	case lua.LBool:
		if !bool(v) {
			return whole
		}
	case lua.LString, lua.LNumber:
		return v.String()
	}
	L.RaiseError("string.gsub: invalid replacement value (a %s)", v.Type())
	return ""
}

// capture returns capture n (1-based) of md, the whole match for n = 1
// when the pattern has no captures, or n = 0.
func capture(L *lua.LState, str string, md *pattern.MatchData, n int) lua.LValue {
	i := 2 * n
	if n == 0 || (n == 1 && md.CaptureLength() == 2) {
		i = 0
	} else if i >= md.CaptureLength() {
		L.RaiseError("string.gsub: invalid capture index %%%d", n)
	}
	if md.IsPosCapture(i) {
		return lua.LNumber(md.Capture(i))
	}
	return lua.LString(str[md.Capture(i):md.Capture(i+1)])
}

// expandRepl expands %0..%9 and %% in a replacement string.
func expandRepl(L *lua.LState, str string, md *pattern.MatchData, repl string) string {
	if !strings.Contains(repl, "%") {
		return repl
	}
	var b strings.Builder
	for i := 0; i < len(repl); i++ {
		c := repl[i]
		if c != '%' || i+1 == len(repl) {
			b.WriteByte(c)
			continue
		}
		i++
		if d := repl[i]; d >= '0' && d <= '9' {
			b.WriteString(capture(L, str, md, int(d-'0')).String())
		} else {
			b.WriteByte(d)
		}
	}
	return b.String()
}
