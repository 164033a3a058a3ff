package bindings

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/ctlua/ctlua/engine"
	lua "github.com/yuin/gopher-lua"
)

// maxExpectationsPerPacket bounds what one packet can create.
const maxExpectationsPerPacket = 16

var expectFields = map[string]bool{
	"src": true, "dst": true, "sport": true, "dport": true, "l4": true,
	"policy": true, "permanent": true, "inactive": true, "helper": true,
	"nat": true, "fn": true, "src_mask": true,
}

// openExpect builds the expect module: expect.create{...} validates an
// expectation and adds it to the packet's decision; expect.answers{...}
// does it for the answers to a request to a group or broadcast address
// (expect_answers.go); expect.hunt{...}
// inserts one at once, looking for a free destination port like the
// kernel's NAT helpers, and returns the port it got; expect.insert{...}
// inserts one at once without hunting, and says whether the kernel took
// it.
func openExpect(L *lua.LState, s *engine.Session) lua.LValue {
	return L.SetFuncs(L.NewTable(), map[string]lua.LGFunction{
		"list":   expectList(s),
		"remove": expectRemove(s),
		"create": func(L *lua.LState) int {
			c := call(L, s, "expect.create")
			return createExpectation(L, c, L.CheckTable(1), "expect")
		},
		"answers": expectAnswers(s),
		"hunt": func(L *lua.LState) int {
			c, e, n := insertArgs(L, s, "expect.hunt")
			if n > 0 {
				return n
			}
			port, err := s.Hunt(c.Conn, &e)
			if err != nil {
				return fail(L, "expect.hunt: %v", err)
			}
			L.Push(lua.LNumber(port))
			return 1
		},
		"insert": func(L *lua.LState) int {
			c, e, n := insertArgs(L, s, "expect.insert")
			if n > 0 {
				return n
			}
			if err := s.Insert(c.Conn, &e); err != nil {
				return fail(L, "expect.insert: %v", err)
			}
			L.Push(lua.LTrue)
			return 1
		},
	})
}

// insertArgs reads the argument of the functions that insert at once; n
// is the number of results to return instead when they cannot.
func insertArgs(L *lua.LState, s *engine.Session, fn string) (c *engine.Call, e engine.Expectation, n int) {
	c = call(L, s, fn)
	spec := L.CheckTable(1)
	if s.Expecter() == nil {
		return c, e, fail(L, "%s: this runtime cannot insert expectations at once (no expecter)", fn)
	}
	e, err := buildExpectation(c, spec)
	if err != nil {
		return c, e, fail(L, "expect: %v", err)
	}
	return c, e, 0
}

// buildExpectation validates a Lua expectation table against the call's
// connection and helper.
func buildExpectation(c *engine.Call, t *lua.LTable) (engine.Expectation, error) {
	var e engine.Expectation
	var bad error
	t.ForEach(func(k, _ lua.LValue) {
		if ks, ok := k.(lua.LString); (!ok || !expectFields[string(ks)]) && bad == nil {
			bad = fmt.Errorf("unknown field %s (known: dst, dport, fn, helper, inactive, l4, nat, permanent, policy, sport, src, src_mask)", k)
		}
	})
	if bad != nil {
		return e, bad
	}
	ipv6 := c.Conn.Orig.IsIPv6()
	e.Tuple.Proto = c.Conn.Orig.Proto
	if v := t.RawGetString("l4"); v != lua.LNil {
		switch v.String() {
		case "tcp":
			e.Tuple.Proto = engine.ProtoTCP
		case "udp":
			e.Tuple.Proto = engine.ProtoUDP
		default:
			return e, fmt.Errorf("l4 must be \"tcp\" or \"udp\", got %q", v.String())
		}
	}
	var err error
	if e.Tuple.Src, e.Mask.Src, err = expectAddr(t, "src", ipv6, false); err != nil {
		return e, err
	}
	if e.Mask.Src, err = expectSrcMask(t, e.Mask.Src, ipv6); err != nil {
		return e, err
	}
	if e.Tuple.Dst, e.Mask.Dst, err = expectAddr(t, "dst", ipv6, true); err != nil {
		return e, err
	}
	if e.Tuple.SrcPort, e.Mask.SrcPort, err = expectPort(t, "sport"); err != nil {
		return e, err
	}
	if e.Tuple.DstPort, e.Mask.DstPort, err = expectPort(t, "dport"); err != nil {
		return e, err
	}
	e.Mask.Proto = 0xff
	if e.Policy, e.Class, err = expectPolicy(&c.Helper.Spec, t); err != nil {
		return e, err
	}
	if lua.LVAsBool(t.RawGetString("permanent")) {
		e.Flags |= engine.ExpectPermanent
	}
	if lua.LVAsBool(t.RawGetString("inactive")) {
		e.Flags |= engine.ExpectInactive
	}
	if v := t.RawGetString("helper"); v != lua.LNil {
		if n := v.String(); n == "" || len(n) > engine.MaxNameLen {
			return e, fmt.Errorf("helper must be a name of 1..%d bytes, got %q", engine.MaxNameLen, n)
		}
		e.Helper = v.String()
	}
	if v := t.RawGetString("nat"); v != lua.LNil {
		nt, ok := v.(*lua.LTable)
		if !ok {
			return e, fmt.Errorf("nat must be a table {dir=, port=[, addr=]}, got %s", v.Type())
		}
		n, err := expectNAT(nt, ipv6)
		if err != nil {
			return e, fmt.Errorf("nat: %w", err)
		}
		n.Tuple.Proto = e.Tuple.Proto
		e.NAT = &n
		e.Fn = "nat-follow-master"
	}
	if v := t.RawGetString("fn"); v != lua.LNil {
		e.Fn = v.String()
	}
	return e, nil
}

// expectPolicy reads the policy field: a policy the helper declares, by
// default its first. The class is the policy's index.
func expectPolicy(spec *engine.Spec, t *lua.LTable) (string, uint32, error) {
	name := spec.Policies[0].Name
	if v := t.RawGetString("policy"); v != lua.LNil {
		name = v.String()
	}
	class, ok := spec.PolicyIndex(name)
	if !ok {
		names := make([]string, len(spec.Policies))
		for i, p := range spec.Policies {
			names[i] = p.Name
		}
		return name, 0, fmt.Errorf("policy %q is not declared by helper %s (declared: %s)", name, spec.Name, strings.Join(names, ", "))
	}
	return name, uint32(class), nil
}

// expectAddr reads an address field: an address string, or nil for a
// wildcard when allowed.
func expectAddr(t *lua.LTable, field string, ipv6, required bool) (addr, mask netip.Addr, err error) {
	bits := 32
	if ipv6 {
		bits = 128
	}
	v := t.RawGetString(field)
	if v == lua.LNil {
		if required {
			return addr, mask, fmt.Errorf("expectation needs a %s address", field)
		}
		return zeroAddr(ipv6), zeroAddr(ipv6), nil
	}
	s, ok := v.(lua.LString)
	if !ok {
		return addr, mask, fmt.Errorf("%s must be an address string, got %s", field, v.Type())
	}
	a, err := netip.ParseAddr(string(s))
	if err != nil {
		return addr, mask, fmt.Errorf("%s: %v", field, err)
	}
	a = a.Unmap()
	if a.Is6() != ipv6 {
		return addr, mask, fmt.Errorf("%s %s is not of the connection's family (%s)", field, a, family(ipv6))
	}
	return a, onesAddr(bits), nil
}

func expectPort(t *lua.LTable, field string) (port, mask uint16, err error) {
	v := t.RawGetString(field)
	if v == lua.LNil {
		return 0, 0, nil
	}
	n, ok := v.(lua.LNumber)
	if !ok || n < 0 || n > 65535 || n != lua.LNumber(int(n)) {
		return 0, 0, fmt.Errorf("%s must be a port number 0..65535 or nil, got %s", field, v.String())
	}
	return uint16(n), 0xffff, nil
}

func expectNAT(t *lua.LTable, ipv6 bool) (engine.ExpectNAT, error) {
	var n engine.ExpectNAT
	d, err := engine.ParseDirection(t.RawGetString("dir").String())
	if err != nil {
		return n, fmt.Errorf("dir: %w", err)
	}
	n.Dir = d
	port, _, err := expectPort(t, "port")
	if err != nil {
		return n, err
	}
	n.Tuple.SrcPort = port
	n.Tuple.Src = zeroAddr(ipv6)
	if t.RawGetString("addr") != lua.LNil {
		a, _, err := expectAddr(t, "addr", ipv6, true)
		if err != nil {
			return n, err
		}
		n.Tuple.Src = a
	}
	return n, nil
}

func zeroAddr(ipv6 bool) netip.Addr {
	if ipv6 {
		return netip.IPv6Unspecified()
	}
	return netip.IPv4Unspecified()
}

func onesAddr(bits int) netip.Addr {
	if bits == 128 {
		var b [16]byte
		for i := range b {
			b[i] = 0xff
		}
		return netip.AddrFrom16(b)
	}
	return netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

func family(ipv6 bool) string {
	if ipv6 {
		return "ipv6"
	}
	return "ipv4"
}
