package engine

import (
	"slices"

	lua "github.com/yuin/gopher-lua"
)

// parseL4 reads the declaration's l4 field into spec.Proto and
// spec.Protos: "tcp", "udp", or a list of them, for a protocol that runs
// over both (ONC RPC's portmapper, SIP, SLP). A list registers one kernel
// helper per protocol; Proto is its first entry.
func parseL4(spec *Spec, v lua.LValue, bad func(field, format string, args ...any)) {
	one := func(s string) (uint8, bool) {
		switch s {
		case "tcp":
			return ProtoTCP, true
		case "udp":
			return ProtoUDP, true
		}
		return 0, false
	}
	switch x := v.(type) {
	case lua.LString:
		p, ok := one(string(x))
		if !ok {
			bad("l4", "must be \"tcp\", \"udp\" or a list of them, got %q", string(x))
			return
		}
		spec.Proto, spec.Protos = p, []uint8{p}
	case *lua.LTable:
		n := x.Len()
		if n == 0 {
			bad("l4", "must name at least one of \"tcp\", \"udp\"")
			return
		}
		for i := 1; i <= n; i++ {
			s, _ := x.RawGetInt(i).(lua.LString)
			p, ok := one(string(s))
			if !ok {
				bad("l4", "entry %d must be \"tcp\" or \"udp\", got %s", i, x.RawGetInt(i).String())
				return
			}
			if slices.Contains(spec.Protos, p) {
				bad("l4", "%q is listed twice", string(s))
				return
			}
			spec.Protos = append(spec.Protos, p)
		}
		spec.Proto = spec.Protos[0]
	default:
		if v == lua.LNil {
			bad("l4", "required: \"tcp\", \"udp\" or a list of them")
			return
		}
		bad("l4", "must be \"tcp\", \"udp\" or a list of them, got %s", v.Type())
	}
}
