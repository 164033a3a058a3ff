package engine

import (
	"fmt"
	"slices"

	lua "github.com/yuin/gopher-lua"
)

// Bounds on a declaration's match: the check runs on every packet.
const (
	maxMatchPrefixes = 16 // per direction
	maxMatchLen      = 64 // bytes per prefix
)

// parseMatch reads the declaration's match field into spec.Match:
//
//	match = { "A", "B" }                                  -- either direction
//	match = { original = {...}, reply = {...}, nocase = true }
//
// Strings in the list part apply to both directions; original and reply
// add to one. nocase compares ASCII letters regardless of case.
func parseMatch(spec *Spec, v lua.LValue, bad func(field, format string, args ...any)) {
	t, ok := v.(*lua.LTable)
	if !ok {
		if v != lua.LNil {
			bad("match", "must be a table of payload prefixes, got %s", v.Type())
		}
		return
	}
	m := &spec.Match
	n := t.Len()
	t.ForEach(func(k, val lua.LValue) {
		switch k := k.(type) {
		case lua.LNumber:
			if i := int(k); lua.LNumber(i) == k && i >= 1 && i <= n {
				return // the list part, read below
			}
		case lua.LString:
			switch k {
			case "original", "reply":
				return
			case "nocase":
				if b, ok := val.(lua.LBool); ok {
					m.NoCase = bool(b)
				} else {
					bad("match.nocase", "must be a boolean, got %s", val.Type())
				}
				return
			}
		}
		bad("match."+k.String(), "unknown key (known: a list of prefixes, original, reply, nocase)")
	})
	for i := 1; i <= n; i++ {
		addPrefix(m, "match."+fmt.Sprint(i), t.RawGetInt(i), []Direction{Original, Reply}, bad)
	}
	for _, dir := range []Direction{Original, Reply} {
		field := "match." + dir.String()
		switch l := t.RawGetString(dir.String()).(type) {
		case *lua.LNilType:
		case *lua.LTable:
			for i := 1; i <= l.Len(); i++ {
				addPrefix(m, fmt.Sprintf("%s.%d", field, i), l.RawGetInt(i), []Direction{dir}, bad)
			}
		default:
			bad(field, "must be a list of payload prefixes, got %s", l.Type())
		}
	}
	if m.Empty() {
		bad("match", "must list at least one payload prefix")
	}
}

// addPrefix adds one prefix of a match to the directions dirs.
func addPrefix(m *Match, field string, v lua.LValue, dirs []Direction, bad func(field, format string, args ...any)) {
	s, ok := v.(lua.LString)
	switch {
	case !ok:
		bad(field, "must be a string, got %s", v.Type())
		return
	case len(s) == 0 || len(s) > maxMatchLen:
		bad(field, "must be 1 to %d bytes long, got %d", maxMatchLen, len(s))
		return
	}
	for _, d := range dirs {
		if slices.Contains(m.Prefixes[d], string(s)) {
			continue
		}
		if len(m.Prefixes[d]) == maxMatchPrefixes {
			bad(field, "more than %d prefixes for the %s direction", maxMatchPrefixes, d)
			return
		}
		m.Prefixes[d] = append(m.Prefixes[d], string(s))
	}
}

// parseLines reads the declaration's lines field into spec.Lines. Lines
// are tracked on TCP only: a helper for UDP alone cannot declare it.
func parseLines(spec *Spec, v lua.LValue, bad func(field, format string, args ...any)) {
	switch b := v.(type) {
	case *lua.LNilType:
	case lua.LBool:
		spec.Lines = bool(b)
		if spec.Lines && len(spec.Protos) > 0 && !slices.Contains(spec.L4s(), ProtoTCP) {
			bad("lines", "lines are tracked on TCP connections: l4 must include \"tcp\"")
		}
	default:
		bad("lines", "must be a boolean, got %s", v.Type())
	}
}
