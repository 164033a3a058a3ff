package enginetest

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/ctlua/ctlua/engine"
	lua "github.com/yuin/gopher-lua"
)

// RunLuaTests runs the global functions named Test* of a Lua test file as
// subtests, in source order of their names, and fails when there are none.
// The file gets a "testing" module to load helpers into a real engine
// (built with modules) and send packets through them:
//
//	local testing = require("ctlua.testing")
//	function Test_port(t)
//	  local h = testing.load("helper.lua")          -- relative to the test file
//	  local c = h:conn{client = "192.0.2.1", server = "192.0.2.2", dport = 21}
//	  c:send("reply", "220 hi\r\n")
//	  local d = c:send("original", "PORT 192,0,2,1,4,1\r\n")
//	  t:eq(#d.expectations, 1)
//	end
//
// A decision is a table {verdict, expectations, error, logs, packet}; each
// expectation is {src, dst, sport, dport, mask_src, mask_dst, mask_sport,
// mask_dport, l4, policy, class, helper, permanent, nat_dir, nat_port,
// inserted}; inserted ones came from expect.hunt, which the harness
// serves with a table of its own: h:occupy{src=, dst=, dport=} makes
// another connection's expectation hold a tuple.
func RunLuaTests(t *testing.T, file string, modules []engine.Module) int {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	L := lua.NewState()
	defer L.Close()
	dir := filepath.Dir(file)
	var engines []*engine.Engine
	defer func() {
		for _, e := range engines {
			e.Close()
		}
	}()
	L.PreloadModule("ctlua.testing", func(L *lua.LState) int {
		L.Push(L.SetFuncs(L.NewTable(), map[string]lua.LGFunction{
			"load": func(L *lua.LState) int {
				n := luaLoad(L, dir, modules)
				engines = append(engines, L.Get(-1).(*lua.LUserData).Value.(*luaHelper).e)
				return n
			},
		}))
		return 1
	})
	registerTypes(L)
	chunk, err := L.Load(bytes.NewReader(src), file)
	if err == nil {
		L.Push(chunk)
		err = L.PCall(0, 0, nil)
	}
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var names []string
	L.G.Global.ForEach(func(k, v lua.LValue) {
		if _, ok := v.(*lua.LFunction); ok && strings.HasPrefix(k.String(), "Test") {
			names = append(names, k.String())
		}
	})
	sort.Strings(names)
	if len(names) == 0 {
		t.Fatalf("%s: no Test* functions", file)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			ud := L.NewUserData()
			ud.Value = t
			L.SetMetatable(ud, L.GetTypeMetatable("testing.T"))
			if err := L.CallByParam(lua.P{Fn: L.GetGlobal(name), NRet: 0, Protect: true}, ud); err != nil {
				t.Fatal(err)
			}
		})
	}
	return len(names)
}

type luaHelper struct {
	e    *engine.Engine
	name string
	x    *Expecter
}

type luaConn struct {
	h      *luaHelper
	c      *engine.Conn
	seq    [2]uint32
	pkts   [2]int
	nextID uint32
}

func registerTypes(L *lua.LState) {
	tm := L.NewTypeMetatable("testing.T")
	L.SetField(tm, "__index", L.SetFuncs(L.NewTable(), map[string]lua.LGFunction{
		"eq": func(L *lua.LState) int {
			t := L.CheckUserData(1).Value.(*testing.T)
			got, want := L.Get(2), L.Get(3)
			if !L.Equal(got, want) && got.String() != want.String() {
				t.Errorf("%s: got %s, want %s %s", L.Where(1), got, want, L.OptString(4, ""))
			}
			return 0
		},
		"errorf": func(L *lua.LState) int {
			t := L.CheckUserData(1).Value.(*testing.T)
			t.Errorf("%s: %s", L.Where(1), L.CheckString(2))
			return 0
		},
		"log": func(L *lua.LState) int {
			L.CheckUserData(1).Value.(*testing.T).Log(L.CheckString(2))
			return 0
		},
	}))
	hm := L.NewTypeMetatable("testing.helper")
	L.SetField(hm, "__index", L.SetFuncs(L.NewTable(), map[string]lua.LGFunction{
		"conn":   luaNewConn,
		"occupy": luaOccupy,
	}))
	cm := L.NewTypeMetatable("testing.conn")
	L.SetField(cm, "__index", L.SetFuncs(L.NewTable(), map[string]lua.LGFunction{
		"send": luaSend,
	}))
}

// luaLoad implements testing.load(path [, options]).
func luaLoad(L *lua.LState, dir string, modules []engine.Module) int {
	path := filepath.Join(dir, L.CheckString(1))
	var ov *engine.Overrides
	if t, ok := L.Get(2).(*lua.LTable); ok {
		ov = &engine.Overrides{Options: map[string]any{}}
		t.ForEach(func(k, v lua.LValue) {
			switch v := v.(type) {
			case lua.LBool:
				ov.Options[k.String()] = bool(v)
			case lua.LNumber:
				ov.Options[k.String()] = float64(v)
			default:
				ov.Options[k.String()] = v.String()
			}
		})
	}
	x := &Expecter{}
	e, err := engine.New(engine.Config{Workers: 1, Modules: modules, Expecter: x})
	if err != nil {
		L.RaiseError("%v", err)
	}
	h, err := e.LoadFile(path, ov)
	if err != nil {
		e.Close()
		L.RaiseError("%v", err)
	}
	ud := L.NewUserData()
	ud.Value = &luaHelper{e: e, name: h.Spec.Name, x: x}
	L.SetMetatable(ud, L.GetTypeMetatable("testing.helper"))
	L.Push(ud)
	return 1
}

// luaNewConn implements h:conn{client=, server=, sport=, dport=, l4=,
// nat = {client=, server=} (the translated addresses seen in the reply
// tuple), related = true}.
func luaNewConn(L *lua.LState) int {
	h := L.CheckUserData(1).Value.(*luaHelper)
	t := L.CheckTable(2)
	get := func(k, def string) string {
		if v := t.RawGetString(k); v != lua.LNil {
			return v.String()
		}
		return def
	}
	proto := engine.ProtoTCP
	if get("l4", "tcp") == "udp" {
		proto = engine.ProtoUDP
	}
	var sport, dport uint16
	fmt.Sscan(get("sport", "40000"), &sport)
	fmt.Sscan(get("dport", "21"), &dport)
	c := Conn(1, get("client", "192.0.2.1"), get("server", "192.0.2.2"), sport, dport, proto)
	if nat, ok := t.RawGetString("nat").(*lua.LTable); ok {
		if v := nat.RawGetString("client"); v != lua.LNil { // SNAT: the server sees this client address
			c.Reply.Dst = netip.MustParseAddr(v.String())
			c.Status |= engine.StatusSrcNAT | engine.StatusSrcNATDone
		}
		if v := nat.RawGetString("server"); v != lua.LNil { // DNAT: the real server
			c.Reply.Src = netip.MustParseAddr(v.String())
			c.Status |= engine.StatusDstNAT | engine.StatusDstNATDone
		}
	}
	c.Helper = h.name
	ud := L.NewUserData()
	ud.Value = &luaConn{h: h, c: c, seq: [2]uint32{1000, 5000}}
	L.SetMetatable(ud, L.GetTypeMetatable("testing.conn"))
	L.Push(ud)
	return 1
}

// luaOccupy implements h:occupy{src=, dst=, dport=, l4=}: another
// connection's expectation (full masks, any source port) now holds that
// tuple, so expect.hunt must look for another port.
func luaOccupy(L *lua.LState) int {
	h := L.CheckUserData(1).Value.(*luaHelper)
	t := L.CheckTable(2)
	var e engine.Expectation
	var err error
	parse := func(k string) netip.Addr {
		a, perr := netip.ParseAddr(t.RawGetString(k).String())
		if perr != nil && err == nil {
			err = fmt.Errorf("%s: %v", k, perr)
		}
		return a.Unmap()
	}
	e.Tuple.Src, e.Tuple.Dst = parse("src"), parse("dst")
	if err != nil {
		L.ArgError(2, err.Error())
	}
	e.Tuple.Proto = engine.ProtoTCP
	if t.RawGetString("l4").String() == "udp" {
		e.Tuple.Proto = engine.ProtoUDP
	}
	port, ok := t.RawGetString("dport").(lua.LNumber)
	if !ok {
		L.ArgError(2, "dport must be a number")
	}
	e.Tuple.DstPort = uint16(port)
	ones := netip.AddrFrom4([4]byte{255, 255, 255, 255})
	if e.Tuple.Src.Is6() {
		ones = netip.AddrFrom16([16]byte{255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255})
	}
	e.Mask = engine.Tuple{Src: ones, Dst: ones, DstPort: 0xffff, Proto: 0xff}
	h.x.Occupy(e)
	return 0
}

// luaSend implements c:send(dir, payload [, {ctinfo=, seq=}]) and returns
// the decision as a table. Sequence numbers advance by the payload length
// per direction; packets are seen as they appear on the wire in that
// direction (post-NAT addresses for the reply direction).
func luaSend(L *lua.LState) int {
	lc := L.CheckUserData(1).Value.(*luaConn)
	dir, err := engine.ParseDirection(L.CheckString(2))
	if err != nil {
		L.ArgError(2, err.Error())
	}
	payload := L.CheckString(3)
	c := lc.c
	ctinfo := engine.CTEstablished
	if dir == engine.Reply {
		ctinfo = engine.CTEstablishedReply
	}
	seq := lc.seq[dir]
	if o, ok := L.Get(4).(*lua.LTable); ok {
		if v := o.RawGetString("ctinfo"); v != lua.LNil {
			found := false
			for i := engine.CTEstablished; i <= engine.CTRelatedReply; i++ {
				if i.String() == v.String() {
					ctinfo, found = i, true
				}
			}
			if !found {
				L.ArgError(4, "unknown ctinfo "+v.String())
			}
		}
		if v, ok := o.RawGetString("seq").(lua.LNumber); ok {
			seq = uint32(v)
		}
	}
	tu := c.Tuple(dir)
	seg := Segment{Src: tu.Src.String(), Dst: tu.Dst.String(), Proto: tu.Proto,
		SrcPort: tu.SrcPort, DstPort: tu.DstPort, Seq: seq, Payload: payload}
	if dir == engine.Original && c.IsNAT() {
		// On the wire after NAT, the original direction carries the
		// translated addresses.
		seg.Src, seg.Dst = c.Reply.Dst.String(), c.Reply.Src.String()
	}
	p := seg.Packet(ctinfo)
	lc.seq[dir] = seq + uint32(len(payload))
	lc.h.x.Inserted = nil
	d := lc.h.e.Handle(lc.h.name, p, c)
	if d.Update.PrivateSet {
		c.Private = d.Update.Private
	}
	L.Push(decisionTable(L, &d, p, lc.h.x.Inserted))
	return 1
}

// decisionTable turns a decision into the table tests read; inserted are
// the expectations the script inserted at once (expect.hunt), listed
// after the decision's with inserted = true.
func decisionTable(L *lua.LState, d *engine.Decision, p *engine.Packet, inserted []engine.Expectation) *lua.LTable {
	t := L.NewTable()
	t.RawSetString("verdict", lua.LString(d.Verdict.String()))
	if d.Err != nil {
		t.RawSetString("error", lua.LString(d.Err.Error()))
	}
	if d.Packet != nil {
		t.RawSetString("packet", lua.LString(d.Packet[p.PayloadOff:]))
		t.RawSetString("checksums_ok", lua.LBool(Checksums(d.Packet)))
	}
	exps := L.NewTable()
	for i, e := range append(slices.Clip(d.Expectations), inserted...) {
		x := L.NewTable()
		x.RawSetString("inserted", lua.LBool(i >= len(d.Expectations)))
		x.RawSetString("src", lua.LString(e.Tuple.Src.String()))
		x.RawSetString("dst", lua.LString(e.Tuple.Dst.String()))
		x.RawSetString("sport", lua.LNumber(e.Tuple.SrcPort))
		x.RawSetString("dport", lua.LNumber(e.Tuple.DstPort))
		x.RawSetString("mask_src", lua.LString(e.Mask.Src.String()))
		x.RawSetString("mask_dst", lua.LString(e.Mask.Dst.String()))
		x.RawSetString("mask_sport", lua.LNumber(e.Mask.SrcPort))
		x.RawSetString("mask_dport", lua.LNumber(e.Mask.DstPort))
		x.RawSetString("l4", lua.LString(engine.ProtoName(e.Tuple.Proto)))
		x.RawSetString("policy", lua.LString(e.Policy))
		x.RawSetString("class", lua.LNumber(e.Class))
		x.RawSetString("helper", lua.LString(e.Helper))
		x.RawSetString("permanent", lua.LBool(e.Flags&engine.ExpectPermanent != 0))
		if e.NAT != nil {
			x.RawSetString("nat_dir", lua.LString(e.NAT.Dir.String()))
			x.RawSetString("nat_port", lua.LNumber(e.NAT.Tuple.SrcPort))
		}
		exps.Append(x)
	}
	t.RawSetString("expectations", exps)
	logs := L.NewTable()
	for _, r := range d.Logs {
		logs.Append(lua.LString(r.Message))
	}
	t.RawSetString("logs", logs)
	return t
}
