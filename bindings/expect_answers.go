package bindings

import (
	"fmt"

	"github.com/ctlua/ctlua/engine"
	lua "github.com/yuin/gopher-lua"
)

// answersAny is the value of src or sport that expect.answers takes for
// "any", where expect.create takes nil.
const answersAny = "any"

// answersSpec returns the expect.create spec of expect.answers: the
// answers to a request that went to a group or broadcast address (one
// request, many answering hosts), each answer a connection of its own.
// It is the connection's reply tuple (the request's destination and port
// as source, the requester, as translated, and its port as destination)
// with the source address any, or, when src_mask is given, the reply
// tuple's source masked with it (the kernel's broadcast helpers), and
// permanent (every answer until it times out). Any field of
// expect.create may be given instead; "any" as src or sport is the
// wildcard that nil is in expect.create. spec, the script's table, may
// be nil.
func answersSpec(L *lua.LState, c *engine.Call, spec *lua.LTable) (*lua.LTable, error) {
	r := c.Conn.Reply
	t := L.CreateTable(0, 8)
	if spec != nil {
		spec.ForEach(func(k, v lua.LValue) { t.RawSet(k, v) })
	}
	fill := func(field string, v lua.LValue) {
		if t.RawGetString(field) == lua.LNil {
			t.RawSetString(field, v)
		}
	}
	fill("dst", lua.LString(r.Dst.String()))
	fill("dport", lua.LNumber(r.DstPort))
	fill("sport", lua.LNumber(r.SrcPort))
	fill("permanent", lua.LTrue)
	if t.RawGetString("src_mask") != lua.LNil {
		fill("src", lua.LString(r.Src.String()))
	}
	for _, field := range []string{"src", "sport"} {
		switch v := t.RawGetString(field); {
		case v.Type() == lua.LTString && v.String() == answersAny:
			t.RawSetString(field, lua.LNil)
			if field == "src" && t.RawGetString("src_mask") != lua.LNil {
				return nil, fmt.Errorf("src %q and a src_mask: a mask needs an address", answersAny)
			}
		case v.Type() == lua.LTString && field == "sport":
			return nil, fmt.Errorf("sport must be a port number or %q, got %q", answersAny, v.String())
		}
	}
	return t, nil
}

// expectAnswers is expect.answers([spec]): expect.create of answersSpec.
func expectAnswers(s *engine.Session) lua.LGFunction {
	return func(L *lua.LState) int {
		c := call(L, s, "expect.answers")
		var given *lua.LTable
		if L.Get(1) != lua.LNil {
			given = L.CheckTable(1)
		}
		spec, err := answersSpec(L, c, given)
		if err != nil {
			return fail(L, "expect.answers: %v", err)
		}
		return createExpectation(L, c, spec, "expect.answers")
	}
}

// createExpectation validates spec and adds it to the packet's decision:
// the body of expect.create.
func createExpectation(L *lua.LState, c *engine.Call, spec *lua.LTable, fn string) int {
	if len(c.Decision.Expectations) >= maxExpectationsPerPacket {
		return fail(L, "%s: at most %d expectations per packet", fn, maxExpectationsPerPacket)
	}
	e, err := buildExpectation(c, spec)
	if err != nil {
		return fail(L, "%s: %v", fn, err)
	}
	c.Decision.Expectations = append(c.Decision.Expectations, e)
	L.Push(lua.LTrue)
	return 1
}
