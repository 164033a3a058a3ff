package enginetest

import (
	"bytes"
	"errors"
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
// subtests of t, in sorted order of their names, and fails when there are
// none. It is `go test`'s front end to the runner that `ctlua test` uses
// (LoadLuaTests); see there for the testing module.
func RunLuaTests(t *testing.T, file string, modules []engine.Module) int {
	t.Helper()
	s, err := LoadLuaTests(file, modules)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, name := range s.Names() {
		t.Run(name, func(t *testing.T) { s.Run(name, t) })
	}
	return len(s.Names())
}

// A TB receives what one Lua test reports. *testing.T is one; `ctlua
// test` has its own.
type TB interface {
	Errorf(format string, args ...any)
	Log(args ...any)
}

// A LuaSuite is a loaded Lua test file: its Test* functions, ready to run
// one at a time. The file gets a "ctlua.testing" module to load helpers
// into a real engine (built with the suite's modules) and send packets
// through them:
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
// A decision is a table {verdict, expectations, error, logs, packet,
// checksums_ok}; each expectation is {src, dst, sport, dport, mask_src,
// mask_dst, mask_sport, mask_dport, l4, policy, class, helper, permanent,
// nat_dir, nat_port, inserted}; each log is {level, msg, fields}. Inserted
// expectations came from expect.insert or expect.hunt, which the harness
// serves with a table of its own: h:occupy{src=, dst=, dport=} makes
// another connection's expectation hold a tuple. print, in the test file
// and in the helpers it loads, goes to the test's log.
type LuaSuite struct {
	L       *lua.LState
	file    string
	names   []string
	lines   map[string]int
	engines []*engine.Engine
	cur     TB
}

// LoadLuaTests loads a Lua test file and finds its Test* functions. A
// file without any is an error.
func LoadLuaTests(file string, modules []engine.Module) (*LuaSuite, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	s := &LuaSuite{L: lua.NewState(), file: file, lines: map[string]int{}}
	L := s.L
	dir := filepath.Dir(file)
	modules = append(slices.Clip(modules), PrintModule(func(_ *engine.Call, msg string) { s.log(msg) }))
	L.PreloadModule("ctlua.testing", func(L *lua.LState) int {
		L.Push(L.SetFuncs(L.NewTable(), map[string]lua.LGFunction{
			"load": func(L *lua.LState) int {
				n := luaLoad(L, dir, modules)
				s.engines = append(s.engines, L.Get(-1).(*lua.LUserData).Value.(*luaHelper).e)
				return n
			},
		}))
		return 1
	})
	L.SetGlobal("print", L.NewFunction(func(L *lua.LState) int {
		s.log(PrintArgs(L))
		return 0
	}))
	registerTypes(L)
	chunk, err := L.Load(bytes.NewReader(src), file)
	if err == nil {
		L.Push(chunk)
		err = L.PCall(0, 0, nil)
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	L.G.Global.ForEach(func(k, v lua.LValue) {
		if f, ok := v.(*lua.LFunction); ok && strings.HasPrefix(k.String(), "Test") {
			s.names = append(s.names, k.String())
			if f.Proto != nil {
				s.lines[k.String()] = f.Proto.LineDefined
			}
		}
	})
	sort.Strings(s.names)
	if len(s.names) == 0 {
		s.Close()
		return nil, fmt.Errorf("%s: no Test* functions (a test is a global function Test_name(t))", file)
	}
	return s, nil
}

// Names returns the names of the suite's tests, sorted.
func (s *LuaSuite) Names() []string { return s.names }

// Where returns file:line of a test's function.
func (s *LuaSuite) Where(name string) string { return fmt.Sprintf("%s:%d", s.file, s.lines[name]) }

// Run runs one test, reporting to tb. An error the test raises fails it
// with the error's location.
func (s *LuaSuite) Run(name string, tb TB) {
	s.cur = tb
	defer func() { s.cur = nil }()
	ud := s.L.NewUserData()
	ud.Value = tb
	s.L.SetMetatable(ud, s.L.GetTypeMetatable("testing.T"))
	err := s.L.CallByParam(lua.P{Fn: s.L.GetGlobal(name), NRet: 0, Protect: true}, ud)
	var le *lua.ApiError
	switch {
	case err == nil:
	case errors.As(err, &le) && le.Object == errFatal:
	case le != nil && le.Object != nil:
		tb.Errorf("%s", le.Object.String()) // the message with its file:line, without the traceback
	default:
		tb.Errorf("%v", err)
	}
}

// Close releases the suite's Lua state and engines.
func (s *LuaSuite) Close() {
	for _, e := range s.engines {
		e.Close()
	}
	s.L.Close()
}

func (s *LuaSuite) log(msg string) {
	if s.cur != nil {
		s.cur.Log(msg)
	}
}

// errFatal is what t:fatalf raises to stop a test it already failed.
var errFatal = lua.LString("ctlua.testing: fatal")

// PrintArgs formats print's arguments like Lua's print: tostring of
// each, separated by tabs.
func PrintArgs(L *lua.LState) string {
	parts := make([]string, L.GetTop())
	for i := range parts {
		parts[i] = L.ToStringMeta(L.Get(i + 1)).String()
	}
	return strings.Join(parts, "\t")
}

// PrintModule returns a module that gives helper scripts a global print
// whose lines go to out with the call they belong to (nil while the chunk
// loads). `ctlua replay` and `ctlua test` add it; the daemon never does,
// so print stays out of production.
func PrintModule(out func(c *engine.Call, msg string)) engine.Module { return printModule{out} }

type printModule struct{ out func(*engine.Call, string) }

func (printModule) Name() string { return "ctlua.print" }

func (m printModule) Open(L *lua.LState, s *engine.Session) lua.LValue {
	f := L.NewFunction(func(L *lua.LState) int {
		m.out(s.Call(), PrintArgs(L))
		return 0
	})
	L.SetGlobal("print", f)
	return L.SetFuncs(L.NewTable(), map[string]lua.LGFunction{"print": f.GFunction})
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
			t := L.CheckUserData(1).Value.(TB)
			got, want := L.Get(2), L.Get(3)
			if !L.Equal(got, want) && got.String() != want.String() {
				t.Errorf("%s: got %s, want %s %s", where(L), got, want, L.OptString(4, ""))
			}
			return 0
		},
		"errorf": func(L *lua.LState) int {
			t := L.CheckUserData(1).Value.(TB)
			t.Errorf("%s: %s", where(L), formatArgs(L))
			return 0
		},
		"fatalf": func(L *lua.LState) int {
			t := L.CheckUserData(1).Value.(TB)
			t.Errorf("%s: %s", where(L), formatArgs(L))
			L.Error(errFatal, 0)
			return 0
		},
		"log": func(L *lua.LState) int {
			L.CheckUserData(1).Value.(TB).Log(where(L) + ": " + formatArgs(L))
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
		"send":         luaSend,
		"expectations": luaExpectations,
	}))
}

// where returns file:line of the Lua code calling a t method.
func where(L *lua.LState) string { return strings.TrimSuffix(L.Where(1), ":") }

// formatArgs formats the arguments after t of t:errorf, t:fatalf and
// t:log: string.format when there are several, tostring of one.
func formatArgs(L *lua.LState) string {
	if L.GetTop() <= 2 {
		return L.ToStringMeta(L.Get(2)).String()
	}
	format := L.GetField(L.GetGlobal("string"), "format")
	args := make([]lua.LValue, 0, L.GetTop()-1)
	for i := 2; i <= L.GetTop(); i++ {
		args = append(args, L.Get(i))
	}
	if err := L.CallByParam(lua.P{Fn: format, NRet: 1, Protect: true}, args...); err != nil {
		return fmt.Sprint(err)
	}
	defer L.Pop(1)
	return L.Get(-1).String()
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
		src, _ := os.ReadFile(path)
		L.RaiseError("%v", ExplainSyntax(err, src))
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
	if lua.LVAsBool(t.RawGetString("related")) { // created by an expectation
		c.Status |= engine.StatusExpected
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
	lc.h.x.Inserted, lc.h.x.Removed = nil, nil
	d := lc.h.e.Handle(lc.h.name, p, c)
	if d.Update.PrivateSet {
		c.Private = d.Update.Private
	}
	t := decisionTable(L, &d, p, lc.h.x.Inserted)
	t.RawSetString("removed", expectationList(L, lc.h.x.Removed))
	// The verdict's expectations become live, as the kernel (NFQA_EXP)
	// and replay make them: c:expectations() and expect.list see them.
	for i := range d.Expectations {
		lc.h.x.Expect(c, &d.Expectations[i]) //nolint:errcheck // a clash is the kernel's silent refusal
	}
	lc.h.x.Inserted = nil
	L.Push(t)
	return 1
}

// luaExpectations implements c:expectations(): the connection's live
// expectations (inserted at once or sent with a verdict, and not
// removed), oldest first, in the shape of a result's expectations.
func luaExpectations(L *lua.LState) int {
	lc := L.CheckUserData(1).Value.(*luaConn)
	live, _ := lc.h.x.Expectations(lc.c)
	L.Push(expectationList(L, live))
	return 1
}

// expectationList returns es as a list of expectation tables.
func expectationList(L *lua.LState, es []engine.Expectation) lua.LValue {
	return decisionTable(L, &engine.Decision{}, &engine.Packet{}, es).RawGetString("expectations")
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
		x := L.NewTable()
		x.RawSetString("level", lua.LString(strings.ToLower(r.Level.String())))
		x.RawSetString("msg", lua.LString(r.Message))
		fields := L.NewTable()
		for _, a := range r.Attrs {
			fields.RawSetString(a.Key, lua.LString(a.Value.String()))
		}
		x.RawSetString("fields", fields)
		logs.Append(x)
	}
	t.RawSetString("logs", logs)
	return t
}
