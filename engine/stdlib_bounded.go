package engine

import (
	"fmt"
	"sort"
	"strings"
	"unsafe"

	"github.com/ctlua/ctlua/engine/internal/pattern"
	lua "github.com/yuin/gopher-lua"
)

// Bounds on the standard library functions that loop in Go. gopher-lua
// checks the time budget between Lua instructions only, so a function that
// loops in Go (pattern matching, string.rep, unpack...) must bound itself;
// these replace gopher-lua's versions in every sandbox.
const (
	// MaxStringLen is the longest string a library function builds.
	MaxStringLen = 1 << 20
	// MaxResults is the most values string.byte and unpack return.
	MaxResults = 8000
	// MaxPatternSteps bounds the work of one pattern match (find, match,
	// gmatch, gsub). The time budget also stops a match in progress.
	MaxPatternSteps = 1 << 20
	// maxFormatWidth is the widest width or precision string.format
	// accepts, as in reference Lua.
	maxFormatWidth = 99
)

// boundedString replaces the string library functions that loop in Go.
var boundedString = map[string]lua.LGFunction{
	"find": strFind, "match": strMatch, "gmatch": strGmatch, "gsub": strGsub,
	"rep": strRep, "byte": strByte, "format": strFormat,
}

// boundedTable replaces the table library functions that loop in Go.
var boundedTable = map[string]lua.LGFunction{"concat": tableConcat, "sort": tableSort}

// patternLimits returns the bounds of a pattern match run by L: the step
// limit, and L's time budget.
func patternLimits(L *lua.LState) pattern.Limits {
	return pattern.Limits{Steps: MaxPatternSteps, Stop: func() error {
		if ctx := L.Context(); ctx != nil {
			return ctx.Err()
		}
		return nil
	}}
}

func find(L *lua.LState, fn, pat, str string, init, limit int) []*pattern.MatchData {
	// The matcher only reads the subject: no need to copy it.
	mds, err := pattern.Find(pat, unsafe.Slice(unsafe.StringData(str), len(str)), init, limit, patternLimits(L))
	if err != nil {
		L.RaiseError("string.%s: %s", fn, err.Error())
	}
	return mds
}

// pushCaptures pushes the captures of md, or the whole match when whole
// and the pattern has none. It returns how many values it pushed.
func pushCaptures(L *lua.LState, str string, md *pattern.MatchData, whole bool) int {
	if md.CaptureLength() == 2 {
		if !whole {
			return 0
		}
		L.Push(lua.LString(str[md.Capture(0):md.Capture(1)]))
		return 1
	}
	n := 0
	for i := 2; i < md.CaptureLength(); i += 2 {
		if md.IsPosCapture(i) {
			L.Push(lua.LNumber(md.Capture(i)))
		} else {
			L.Push(lua.LString(str[md.Capture(i):md.Capture(i+1)]))
		}
		n++
	}
	return n
}

func strFind(L *lua.LState) int {
	str, pat := L.CheckString(1), L.CheckString(2)
	init := startIndex(str, L.OptInt(3, 1))
	if init > len(str) {
		L.Push(lua.LNil)
		return 1
	}
	if lua.LVAsBool(L.Get(4)) || !strings.ContainsAny(pat, "^$*+?.([%-") {
		pos := strings.Index(str[init:], pat)
		if pos < 0 {
			L.Push(lua.LNil)
			return 1
		}
		L.Push(lua.LNumber(init + pos + 1))
		L.Push(lua.LNumber(init + pos + len(pat)))
		return 2
	}
	mds := find(L, "find", pat, str, init, 1)
	if len(mds) == 0 {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(lua.LNumber(mds[0].Capture(0) + 1))
	L.Push(lua.LNumber(mds[0].Capture(1)))
	return 2 + pushCaptures(L, str, mds[0], false)
}

func strMatch(L *lua.LState) int {
	str, pat := L.CheckString(1), L.CheckString(2)
	init := startIndex(str, L.OptInt(3, 1))
	if init > len(str) {
		L.Push(lua.LNil)
		return 1
	}
	mds := find(L, "match", pat, str, init, 1)
	if len(mds) == 0 {
		L.Push(lua.LNil)
		return 1
	}
	return pushCaptures(L, str, mds[0], true)
}

func strGmatch(L *lua.LState) int {
	str, pat := L.CheckString(1), L.CheckString(2)
	mds := find(L, "gmatch", pat, str, 0, -1)
	i := 0
	L.Push(L.NewFunction(func(L *lua.LState) int {
		if i >= len(mds) {
			return 0
		}
		i++
		return pushCaptures(L, str, mds[i-1], true)
	}))
	return 1
}

// startIndex converts a Lua string position (1-based, negative from the
// end) to a 0-based offset, which may be len(str).
func startIndex(str string, i int) int {
	switch {
	case i < 0:
		i = max(len(str)+i, 0)
	case i > 0:
		i--
	}
	return min(i, len(str)+1)
}

func strRep(L *lua.LState) int {
	str, n := L.CheckString(1), L.CheckInt(2)
	sep := L.OptString(3, "")
	if n <= 0 {
		L.Push(lua.LString(""))
		return 1
	}
	if size := float64(n)*float64(len(str)) + float64(n-1)*float64(len(sep)); size > MaxStringLen {
		L.RaiseError("string.rep: result would be %.0f bytes, more than %d", size, MaxStringLen)
	}
	if sep == "" {
		L.Push(lua.LString(strings.Repeat(str, n)))
		return 1
	}
	L.Push(lua.LString(strings.Repeat(str+sep, n-1) + str))
	return 1
}

func strByte(L *lua.LState) int {
	str := L.CheckString(1)
	i := L.OptInt(2, 1)
	j := L.OptInt(3, i)
	l := len(str)
	if i < 0 {
		i = l + i + 1
	}
	if j < 0 {
		j = l + j + 1
	}
	i, j = max(i, 1), min(j, l)
	if i > j {
		return 0
	}
	if j-i+1 > MaxResults {
		L.RaiseError("string.byte: %d values requested, at most %d", j-i+1, MaxResults)
	}
	for k := i; k <= j; k++ {
		L.Push(lua.LNumber(str[k-1]))
	}
	return j - i + 1
}

// strFormat is string.format with reference Lua's bound on widths and
// precisions (two digits) and its result bounded by MaxStringLen.
func strFormat(L *lua.LState) int {
	f := L.CheckString(1)
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			continue
		}
		j := i + 1
		for j < len(f) && strings.IndexByte("-+ #0", f[j]) >= 0 {
			j++
		}
		if w := digits(f[j:]); w > 2 {
			L.RaiseError("string.format: invalid format (width longer than %d digits)", 2)
		} else {
			j += w
		}
		if j < len(f) && f[j] == '.' {
			if p := digits(f[j+1:]); p > 2 {
				L.RaiseError("string.format: invalid format (precision longer than %d digits)", 2)
			}
		}
		if j < len(f) && f[j] == '%' {
			i = j
		}
	}
	args := make([]any, L.GetTop()-1)
	for k := range args {
		args[k] = L.Get(k + 2)
	}
	n := strings.Count(f, "%") - 2*strings.Count(f, "%%")
	s := fmt.Sprintf(f, args[:max(min(n, len(args)), 0)]...)
	if len(s) > MaxStringLen {
		L.RaiseError("string.format: result longer than %d bytes", MaxStringLen)
	}
	L.Push(lua.LString(s))
	return 1
}

func digits(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

func tableConcat(L *lua.LState) int {
	t := L.CheckTable(1)
	sep := L.OptString(2, "")
	i, j := L.OptInt(3, 1), L.OptInt(4, t.Len())
	var b strings.Builder
	for k := i; k <= j; k++ {
		v := t.RawGetInt(k)
		if !lua.LVCanConvToString(v) {
			L.RaiseError("table.concat: invalid value (a %s) at index %d", v.Type(), k)
		}
		if k > i {
			b.WriteString(sep)
		}
		b.WriteString(v.String())
		if b.Len() > MaxStringLen {
			L.RaiseError("table.concat: result longer than %d bytes", MaxStringLen)
		}
	}
	L.Push(lua.LString(b.String()))
	return 1
}

// tableSort is table.sort, stopped by the time budget: sorting a large
// table without a Lua comparator runs in Go only.
func tableSort(L *lua.LState) int {
	t := L.CheckTable(1)
	var cmp *lua.LFunction
	if L.GetTop() > 1 && L.Get(2) != lua.LNil {
		cmp = L.CheckFunction(2)
	}
	n := t.Len()
	vals := make([]lua.LValue, n)
	for k := range vals {
		vals[k] = t.RawGetInt(k + 1)
	}
	stop := patternLimits(L).Stop
	calls := 0
	sort.SliceStable(vals, func(a, b int) bool {
		if calls++; calls%1024 == 0 {
			if err := stop(); err != nil {
				L.RaiseError("table.sort: stopped: %v", err)
			}
		}
		if cmp == nil {
			return L.LessThan(vals[a], vals[b])
		}
		L.Push(cmp)
		L.Push(vals[a])
		L.Push(vals[b])
		L.Call(2, 1)
		less := lua.LVAsBool(L.Get(-1))
		L.Pop(1)
		return less
	})
	for k, v := range vals {
		t.RawSetInt(k+1, v)
	}
	return 0
}

func baseUnpack(L *lua.LState) int {
	t := L.CheckTable(1)
	i, j := L.OptInt(2, 1), L.OptInt(3, t.Len())
	if i > j {
		return 0
	}
	if n := float64(j) - float64(i) + 1; n > MaxResults {
		L.RaiseError("unpack: %.0f values requested, at most %d", n, MaxResults)
	}
	for k := i; k <= j; k++ {
		L.Push(t.RawGetInt(k))
	}
	return j - i + 1
}
