package bindings

import (
	"errors"
	"net/netip"

	"github.com/ctlua/ctlua/engine"
	lua "github.com/yuin/gopher-lua"
)

// openConntrack builds the conntrack module: queries answered by the
// engine's Conntrack (ctnetlink in the daemon, the simulated table in
// replay).
func openConntrack(L *lua.LState, s *engine.Session) lua.LValue {
	return L.SetFuncs(L.NewTable(), map[string]lua.LGFunction{
		// conntrack.lookup{src=, dst=, sport=, dport=, l4=} returns the
		// connection with that tuple in either direction.
		"lookup": func(L *lua.LState) int {
			t := L.CheckTable(1)
			var tu engine.Tuple
			var err error
			if tu.Src, err = netip.ParseAddr(t.RawGetString("src").String()); err != nil {
				L.ArgError(1, "src: "+err.Error())
			}
			if tu.Dst, err = netip.ParseAddr(t.RawGetString("dst").String()); err != nil {
				L.ArgError(1, "dst: "+err.Error())
			}
			tu.Src, tu.Dst = tu.Src.Unmap(), tu.Dst.Unmap()
			tu.Proto = engine.ProtoTCP
			switch t.RawGetString("l4").String() {
			case "udp":
				tu.Proto = engine.ProtoUDP
			case "tcp", "nil":
			default:
				L.ArgError(1, "l4 must be \"tcp\" or \"udp\"")
			}
			sp, _, err1 := expectPort(t, "sport")
			dp, _, err2 := expectPort(t, "dport")
			if err := errors.Join(err1, err2); err != nil {
				L.ArgError(1, err.Error())
			}
			tu.SrcPort, tu.DstPort = sp, dp
			return lookup(L, s, tu)
		},
		// conntrack.lookup_master(conn) looks up the master of a related
		// connection.
		"lookup_master": func(L *lua.LState) int {
			c := checkConn(L)
			if c.Master == nil {
				return fail(L, "conntrack: connection %d has no master", c.ID)
			}
			return lookup(L, s, *c.Master)
		},
	})
}

func lookup(L *lua.LState, s *engine.Session, t engine.Tuple) int {
	ct := s.Conntrack()
	if ct == nil {
		return fail(L, "conntrack: no conntrack queries in this engine")
	}
	c, err := ct.Lookup(t)
	if err != nil {
		return fail(L, "conntrack: %v", err)
	}
	L.Push(connInfo(L, c))
	return 1
}

// connInfo converts a conntrack entry to a plain table.
func connInfo(L *lua.LState, c *engine.Conn) *lua.LTable {
	t := L.CreateTable(0, 8)
	t.RawSetString("id", lua.LNumber(c.ID))
	t.RawSetString("mark", lua.LNumber(c.Mark))
	t.RawSetString("zone", lua.LNumber(c.Zone))
	t.RawSetString("helper", lua.LString(c.Helper))
	t.RawSetString("orig", tupleTable(L, c.Orig))
	t.RawSetString("reply", tupleTable(L, c.Reply))
	if c.Master != nil {
		t.RawSetString("master", tupleTable(L, *c.Master))
	}
	t.RawSetString("status", statusTable(L, c.Status))
	return t
}
