package bindings

import (
	"fmt"
	"net/netip"

	"github.com/ctlua/ctlua/engine"
	lua "github.com/yuin/gopher-lua"
)

// filterFields are the fields expect.list and expect.remove select on.
var filterFields = map[string]bool{"policy": true, "l4": true, "src": true, "dst": true, "sport": true, "dport": true}

// An expectFilter selects a master's expectations: every field given
// must match.
type expectFilter struct {
	policies map[string]bool
	proto    uint8
	src, dst netip.Addr
	sport    int
	dport    int
}

// readFilter reads the optional filter table at argument 1.
func readFilter(L *lua.LState, c *engine.Call) (expectFilter, error) {
	f := expectFilter{sport: -1, dport: -1}
	t, ok := L.Get(1).(*lua.LTable)
	if L.Get(1) == lua.LNil {
		return f, nil
	}
	if !ok {
		return f, fmt.Errorf("the filter must be a table {policy= (a name or a list), l4=, src=, dst=, sport=, dport=}, got %s", L.Get(1).Type())
	}
	var bad error
	t.ForEach(func(k, v lua.LValue) {
		ks, ok := k.(lua.LString)
		if (!ok || !filterFields[string(ks)]) && bad == nil {
			bad = fmt.Errorf("unknown filter field %s (known: dport, dst, l4, policy, sport, src)", k)
			return
		}
		switch ks {
		case "policy":
			if err := f.readPolicies(v, &c.Helper.Spec); err != nil && bad == nil {
				bad = err
			}
		case "l4":
			switch v.String() {
			case "tcp":
				f.proto = engine.ProtoTCP
			case "udp":
				f.proto = engine.ProtoUDP
			default:
				if bad == nil {
					bad = fmt.Errorf("l4 must be \"tcp\" or \"udp\", got %q", v.String())
				}
			}
		case "src", "dst":
			a, err := netip.ParseAddr(v.String())
			if err != nil && bad == nil {
				bad = fmt.Errorf("%s: %v", ks, err)
			}
			if ks == "src" {
				f.src = a.Unmap()
			} else {
				f.dst = a.Unmap()
			}
		case "sport", "dport":
			n, ok := v.(lua.LNumber)
			if (!ok || n < 0 || n > 65535) && bad == nil {
				bad = fmt.Errorf("%s must be a port number, got %s", ks, v.String())
			}
			if ks == "sport" {
				f.sport = int(n)
			} else {
				f.dport = int(n)
			}
		}
	})
	return f, bad
}

// readPolicies reads the policy field: a name or a list of names, each
// declared by the helper.
func (f *expectFilter) readPolicies(v lua.LValue, spec *engine.Spec) error {
	f.policies = map[string]bool{}
	var names []string
	if t, ok := v.(*lua.LTable); ok {
		for i := 1; i <= t.Len(); i++ {
			names = append(names, t.RawGetInt(i).String())
		}
	} else {
		names = []string{v.String()}
	}
	for _, n := range names {
		if _, ok := spec.PolicyIndex(n); !ok {
			return fmt.Errorf("policy %q is not declared by helper %s", n, spec.Name)
		}
		f.policies[n] = true
	}
	return nil
}

// matches reports whether e, of the helper spec, passes the filter.
func (f *expectFilter) matches(e *engine.Expectation, spec *engine.Spec) bool {
	switch {
	case f.policies != nil && (int(e.Class) >= len(spec.Policies) || !f.policies[spec.Policies[e.Class].Name]):
		return false
	case f.proto != 0 && e.Tuple.Proto != f.proto:
		return false
	case f.src.IsValid() && e.Tuple.Src != f.src:
		return false
	case f.dst.IsValid() && e.Tuple.Dst != f.dst:
		return false
	case f.sport >= 0 && int(e.Tuple.SrcPort) != f.sport:
		return false
	case f.dport >= 0 && int(e.Tuple.DstPort) != f.dport:
		return false
	}
	return true
}

// selected returns the calling connection's live expectations that pass
// the filter at argument 1, and the remover that listed them; n > 0 is
// the number of results to return instead.
func selected(L *lua.LState, s *engine.Session, fn string) (engine.ExpectRemover, *engine.Call, []engine.Expectation, int) {
	c := call(L, s, fn)
	x, ok := s.Expecter().(engine.ExpectRemover)
	if !ok {
		return nil, c, nil, fail(L, "%s: %v", fn, engine.ErrNoExpectRemover)
	}
	f, err := readFilter(L, c)
	if err != nil {
		return nil, c, nil, fail(L, "%s: %v", fn, err)
	}
	all, err := x.Expectations(c.Conn)
	if err != nil {
		return nil, c, nil, fail(L, "%s: %v", fn, err)
	}
	var out []engine.Expectation
	for i := range all {
		if f.matches(&all[i], &c.Helper.Spec) {
			out = append(out, all[i])
		}
	}
	return x, c, out, 0
}

// expectList implements expect.list([filter]): the connection's live
// expectations as tables {src, dst, sport, dport, l4, policy, helper,
// permanent, inactive}, oldest first; src and sport are nil when any.
func expectList(s *engine.Session) lua.LGFunction {
	return func(L *lua.LState) int {
		_, c, list, n := selected(L, s, "expect.list")
		if n > 0 {
			return n
		}
		out := L.NewTable()
		for i := range list {
			out.Append(expectationTable(L, &list[i], &c.Helper.Spec))
		}
		L.Push(out)
		return 1
	}
}

// expectRemove implements expect.remove([filter]): removes the
// connection's live expectations that pass the filter (all without one)
// and returns how many it removed, newest first like the kernel's
// flush_expectations (whose list is newest first).
func expectRemove(s *engine.Session) lua.LGFunction {
	return func(L *lua.LState) int {
		x, c, list, n := selected(L, s, "expect.remove")
		if n > 0 {
			return n
		}
		for i := len(list) - 1; i >= 0; i-- { // newest first, as the kernel walks its list
			if err := x.Unexpect(c.Conn, &list[i]); err != nil {
				return fail(L, "expect.remove: %v", err)
			}
		}
		L.Push(lua.LNumber(len(list)))
		return 1
	}
}

func expectationTable(L *lua.LState, e *engine.Expectation, spec *engine.Spec) *lua.LTable {
	t := L.NewTable()
	if e.Mask.Src.IsValid() && !e.Mask.Src.IsUnspecified() {
		t.RawSetString("src", lua.LString(e.Tuple.Src.String()))
	}
	t.RawSetString("dst", lua.LString(e.Tuple.Dst.String()))
	if e.Mask.SrcPort != 0 {
		t.RawSetString("sport", lua.LNumber(e.Tuple.SrcPort))
	}
	t.RawSetString("dport", lua.LNumber(e.Tuple.DstPort))
	t.RawSetString("l4", lua.LString(engine.ProtoName(e.Tuple.Proto)))
	if int(e.Class) < len(spec.Policies) {
		t.RawSetString("policy", lua.LString(spec.Policies[e.Class].Name))
	}
	if e.Helper != "" {
		t.RawSetString("helper", lua.LString(e.Helper))
	}
	t.RawSetString("permanent", lua.LBool(e.Flags&engine.ExpectPermanent != 0))
	t.RawSetString("inactive", lua.LBool(e.Flags&engine.ExpectInactive != 0))
	return t
}
