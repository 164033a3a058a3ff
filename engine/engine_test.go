package engine_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctlua/ctlua/bindings"
	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/engine/enginetest"
	"github.com/ctlua/ctlua/stdlib"
)

func newEngine(t testing.TB, cfg engine.Config) *engine.Engine {
	t.Helper()
	cfg.Modules = append(bindings.Default(), stdlib.Modules()...)
	e, err := engine.New(cfg)
	if err != nil {
		t.Fatalf("engine.New: %v", err)
	}
	t.Cleanup(e.Close)
	return e
}

// helperSrc returns a helper script with the given on_packet body.
func helperSrc(name, body string, extra ...string) string {
	return fmt.Sprintf(`local expect = require("ctlua.expect")
return {
  name = %q, l4 = "tcp", ports = {2121},
  policies = {{name = "data", max_expected = 2, timeout = 60}},
  %s
  on_packet = function(pkt, conn)
%s
  end,
}
`, name, strings.Join(extra, "\n"), body)
}

func load(t testing.TB, e *engine.Engine, file, src string) *engine.Helper {
	t.Helper()
	h, err := e.Load(file, []byte(src), nil)
	if err != nil {
		t.Fatalf("Load(%s): %v", file, err)
	}
	return h
}

var (
	conn1 = enginetest.Conn(1, "192.0.2.1", "192.0.2.2", 40000, 2121, 0)
	pkt1  = enginetest.Segment{Src: "192.0.2.1", Dst: "192.0.2.2", SrcPort: 40000, DstPort: 2121,
		Seq: 1000, Payload: "HELLO\r\n"}.Packet(engine.CTEstablished)
)

func TestDeclaration(t *testing.T) {
	e := newEngine(t, engine.Config{Workers: 1})
	h := load(t, e, "x.lua", `return {
  name = "x", l3 = "ipv6", l4 = "udp", ports = {69, 1069},
  policies = {{name = "a", max_expected = 3, timeout = 30}, {name = "b", max_expected = 255, timeout = 1}},
  private_size = 8, default_verdict = "drop", options = {loose = true, n = 2, s = "x"},
  on_packet = function() end,
}`)
	s := h.Spec
	if s.Name != "x" || s.IPv4 || !s.IPv6 || s.Proto != engine.ProtoUDP || s.PrivateSize != 8 ||
		s.DefaultVerdict != engine.Drop || len(s.Ports) != 2 || s.Ports[1] != 1069 {
		t.Fatalf("unexpected spec: %+v", s)
	}
	if len(s.Policies) != 2 || s.Policies[1] != (engine.Policy{Name: "b", MaxExpected: 255, Timeout: time.Second}) {
		t.Fatalf("policies: %+v", s.Policies)
	}
	if s.Options["loose"] != true || s.Options["n"] != 2.0 || s.Options["s"] != "x" {
		t.Fatalf("options: %+v", s.Options)
	}
}

func TestDeclarationErrors(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string // substrings of the error
	}{
		{"syntax error", "return {\n  name = 'x',\n  l4 = = 'tcp' }\n", []string{"bad.lua:3:", "syntax error"}},
		{"runtime error in chunk", "local x = nil\nreturn x.y\n", []string{"bad.lua:2:", "attempt to index"}},
		{"not a table", "return 42\n", []string{"bad.lua:1:", "must return the helper declaration table"}},
		{"unknown field", "return {\n name='x', l4='tcp', policies={{name='p', max_expected=1, timeout=1}},\n on_packet=function() end,\n colour = 'red',\n}\n",
			[]string{"bad.lua:4: colour: unknown field"}},
		{"name too long", "return {\n name = 'abcdefghijklmnop',\n l4='tcp', policies={{name='p', max_expected=1, timeout=1}}, on_packet=function() end }\n",
			[]string{"bad.lua:2: name: must be 1..15 bytes, got 16"}},
		{"missing name and l4", "return {\n policies={{name='p', max_expected=1, timeout=1}}, on_packet=function() end }\n",
			[]string{"name: required", "l4: required"}},
		{"bad l4", "return { name='x',\n l4 = 'sctp',\n policies={{name='p', max_expected=1, timeout=1}}, on_packet=function() end }\n",
			[]string{"bad.lua:2: l4: must be \"tcp\", \"udp\" or a list of them, got \"sctp\""}},
		{"bad l4 list", "return { name='x',\n l4 = {'tcp', 'sctp'},\n policies={{name='p', max_expected=1, timeout=1}}, on_packet=function() end }\n",
			[]string{"bad.lua:2: l4: entry 2 must be \"tcp\" or \"udp\", got sctp"}},
		{"l4 listed twice", "return { name='x',\n l4 = {'udp', 'udp'},\n policies={{name='p', max_expected=1, timeout=1}}, on_packet=function() end }\n",
			[]string{"bad.lua:2: l4: \"udp\" is listed twice"}},
		{"empty l4 list", "return { name='x',\n l4 = {},\n policies={{name='p', max_expected=1, timeout=1}}, on_packet=function() end }\n",
			[]string{"bad.lua:2: l4: must name at least one of \"tcp\", \"udp\""}},
		{"policy max_expected", "return { name='x', l4='tcp', policies={\n {name='p',\n max_expected=0, timeout=1}}, on_packet=function() end }\n",
			[]string{"bad.lua:3: policies.1.max_expected: required: an integer 1..255, got 0"}},
		{"too many policies", "return { name='x', l4='tcp', policies={{name='a',max_expected=1,timeout=1},{name='b',max_expected=1,timeout=1},{name='c',max_expected=1,timeout=1},{name='d',max_expected=1,timeout=1},{name='e',max_expected=1,timeout=1}}, on_packet=function() end }",
			[]string{"policies: must list 1..4 policies, got 5"}},
		{"duplicate policy", "return { name='x', l4='tcp', policies={{name='a',max_expected=1,timeout=1},{name='a',max_expected=1,timeout=1}}, on_packet=function() end }",
			[]string{"policies.2.name: duplicate policy name \"a\""}},
		{"private size", "return { name='x', l4='tcp', policies={{name='a',max_expected=1,timeout=1}},\n private_size = 33,\n on_packet=function() end }",
			[]string{"bad.lua:2: private_size: must be an integer 0..32, got 33"}},
		{"no on_packet", "return { name='x', l4='tcp', policies={{name='a',max_expected=1,timeout=1}} }",
			[]string{"on_packet: required"}},
		{"bad port", "return { name='x', l4='tcp',\n ports = {21, 70000},\n policies={{name='a',max_expected=1,timeout=1}}, on_packet=function() end }",
			[]string{"bad.lua:2: ports.2: must be a port number 1..65535, got 70000"}},
		{"bad default verdict", "return { name='x', l4='tcp', default_verdict='reject', policies={{name='a',max_expected=1,timeout=1}}, on_packet=function() end }",
			[]string{"default_verdict: verdict must be \"accept\" or \"drop\", got \"reject\""}},
		{"payload_only not a boolean", "return { name='x', l4='tcp', policies={{name='a',max_expected=1,timeout=1}},\n payload_only = 1,\n on_packet=function() end }",
			[]string{"bad.lua:2: payload_only: must be a boolean, got number"}},
	}
	e := newEngine(t, engine.Config{Workers: 1})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.Load("bad.lua", []byte(tt.src), nil)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			var de *engine.DeclError
			if !errors.As(err, &de) {
				t.Errorf("error %T is not a *DeclError", err)
			}
		})
	}
}

func TestOverrides(t *testing.T) {
	e := newEngine(t, engine.Config{Workers: 1})
	src := helperSrc("ov", "return nil", "options = {loose = false},")
	drop := engine.Drop
	h, err := e.Load("ov.lua", []byte(src), &engine.Overrides{
		Options: map[string]any{"loose": true}, Ports: []uint16{21}, DefaultVerdict: &drop,
		Policies: map[string]engine.Policy{"data": {MaxExpected: 5, Timeout: 10 * time.Second}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if h.Spec.Options["loose"] != true || h.Spec.Ports[0] != 21 || h.Spec.DefaultVerdict != engine.Drop ||
		h.Spec.Policies[0].MaxExpected != 5 || h.Spec.Policies[0].Timeout != 10*time.Second {
		t.Fatalf("overrides not applied: %+v", h.Spec)
	}
	for name, ov := range map[string]*engine.Overrides{
		"unknown option":   {Options: map[string]any{"nope": true}},
		"wrong type":       {Options: map[string]any{"loose": "yes"}},
		"unknown policy":   {Policies: map[string]engine.Policy{"ctl": {MaxExpected: 1}}},
		"max_expected 256": {Policies: map[string]engine.Policy{"data": {MaxExpected: 256}}},
	} {
		if _, err := e.Check("ov.lua", []byte(src), ov); err == nil {
			t.Errorf("%s: Check succeeded, want an error", name)
		}
	}
}

func TestScriptFailuresGiveDefaultVerdict(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		extra    string
		kind     engine.ErrorKind
		line     int
		verdict  engine.Verdict
		contains string
	}{
		{"runtime error", "    local t = nil\n    return t.x", "", engine.KindRuntime, 8, engine.Accept, "attempt to index"},
		{"error()", "    error('boom')", "", engine.KindRuntime, 7, engine.Accept, "boom"},
		{"infinite loop", "    while true do end", "", engine.KindTimeout, 7, engine.Accept, "context canceled"},
		{"bad return value", "    return 42", "", engine.KindBadReturn, 6, engine.Accept, `on_packet returned number "42"`},
		{"bad verdict string", "    return 'reject'", "", engine.KindBadReturn, 6, engine.Accept, `want "accept", "drop" or nil`},
		{"default drop", "    error('boom')", "default_verdict = 'drop',", engine.KindRuntime, 7, engine.Drop, "boom"},
		{"expectation discarded on error", "    expect.create{dst = '192.0.2.1', dport = 5}\n    error('late')", "", engine.KindRuntime, 8, engine.Accept, "late"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t, engine.Config{Workers: 1, Budget: 20 * time.Millisecond})
			load(t, e, "fail.lua", helperSrc("fail", tt.body, tt.extra))
			d := e.Handle("fail", pkt1, conn1)
			if d.Verdict != tt.verdict {
				t.Errorf("verdict = %v, want %v", d.Verdict, tt.verdict)
			}
			if len(d.Expectations) != 0 || d.Packet != nil {
				t.Errorf("partial effects kept: %d expectations, packet %v", len(d.Expectations), d.Packet != nil)
			}
			var se *engine.ScriptError
			if !errors.As(d.Err, &se) {
				t.Fatalf("Err = %v, want a *ScriptError", d.Err)
			}
			if se.Kind != tt.kind || se.File != "fail.lua" || se.Line != tt.line || !strings.Contains(se.Error(), tt.contains) {
				t.Errorf("error = %v (kind %v, %s:%d), want kind %v at fail.lua:%d containing %q",
					se, se.Kind, se.File, se.Line, tt.kind, tt.line, tt.contains)
			}
			st, _ := e.Stats("fail")
			if st.Errors != 1 || st.Packets != 1 {
				t.Errorf("stats = %+v, want 1 packet and 1 error", st)
			}
			if tt.kind == engine.KindTimeout && st.Timeouts != 1 {
				t.Errorf("timeouts = %d, want 1", st.Timeouts)
			}
			if tt.kind == engine.KindBadReturn && st.BadReturns != 1 {
				t.Errorf("bad returns = %d, want 1", st.BadReturns)
			}
		})
	}
}

func TestWorkerRecoversAfterTimeout(t *testing.T) {
	e := newEngine(t, engine.Config{Workers: 1, Budget: 20 * time.Millisecond})
	load(t, e, "slow.lua", helperSrc("slow", `    if pkt:len() > 5 then while true do end end
    return "drop"`))
	if d := e.Handle("slow", pkt1, conn1); d.Err == nil {
		t.Fatal("runaway call was not stopped")
	}
	short := enginetest.Segment{Src: "192.0.2.1", Dst: "192.0.2.2", SrcPort: 40000, DstPort: 2121, Payload: "HI"}.Packet(engine.CTEstablished)
	for i := range 3 {
		if d := e.Handle("slow", short, conn1); d.Err != nil || d.Verdict != engine.Drop {
			t.Fatalf("call %d after timeout: verdict %v, err %v", i, d.Verdict, d.Err)
		}
	}
}

func TestSandbox(t *testing.T) {
	e := newEngine(t, engine.Config{Workers: 1})
	for _, name := range []string{"os", "io", "debug", "package", "dofile", "loadfile", "load", "loadstring", "getfenv", "setfenv", "collectgarbage", "print"} {
		t.Run(name, func(t *testing.T) {
			load(t, e, "sb.lua", helperSrc("sb", fmt.Sprintf("    if %s ~= nil then return 'drop' end", name)))
			if d := e.Handle("sb", pkt1, conn1); d.Verdict != engine.Accept || d.Err != nil {
				t.Errorf("%s is reachable from a script (verdict %v, err %v)", name, d.Verdict, d.Err)
			}
		})
	}
	t.Run("require of a file", func(t *testing.T) {
		_, err := e.Check("req.lua", []byte(`local os = require("os") return {}`), nil)
		if err == nil || !strings.Contains(err.Error(), `module "os" not found`) {
			t.Errorf("require(\"os\"): %v", err)
		}
	})
	t.Run("globals are per helper", func(t *testing.T) {
		load(t, e, "g1.lua", helperSrc("g1", "    shared = 'g1'"))
		load(t, e, "g2.lua", helperSrc("g2", "    if shared ~= nil then return 'drop' end"))
		e.Handle("g1", pkt1, conn1)
		if d := e.Handle("g2", pkt1, conn1); d.Verdict != engine.Accept {
			t.Error("a global set by one helper is visible to another")
		}
	})
}

func TestReloadKeepsOldVersionOnError(t *testing.T) {
	e := newEngine(t, engine.Config{Workers: 2})
	load(t, e, "r.lua", helperSrc("r", "    return 'drop'"))
	for name, src := range map[string]string{
		"syntax":     "return {",
		"validation": helperSrc("r", "return 'accept'", "private_size = 99,"),
		"renamed":    helperSrc("other", "    return 'accept'"),
	} {
		if _, err := e.Load("r.lua", []byte(src), nil); err == nil {
			t.Fatalf("%s: broken reload succeeded", name)
		}
		if d := e.Handle("r", pkt1, conn1); d.Verdict != engine.Drop || d.Err != nil {
			t.Fatalf("%s: after a failed reload the old version does not run: %v %v", name, d.Verdict, d.Err)
		}
	}
	st, _ := e.Stats("r")
	if st.ReloadFailures != 3 {
		t.Errorf("reload failures = %d, want 3", st.ReloadFailures)
	}
	h := load(t, e, "r.lua", helperSrc("r", "    return 'accept'"))
	if h.Version != 2 {
		t.Errorf("version = %d, want 2", h.Version)
	}
	if d := e.Handle("r", pkt1, conn1); d.Verdict != engine.Accept {
		t.Errorf("new version not running")
	}
}

func TestReloadKeepsConnectionState(t *testing.T) {
	e := newEngine(t, engine.Config{Workers: 1})
	v1 := helperSrc("st", `    local s = conn:state()
    s.count = (s.count or 0) + 1
    if s.count == 3 then return "drop" end`)
	load(t, e, "st.lua", v1)
	e.Handle("st", pkt1, conn1)
	e.Handle("st", pkt1, conn1)
	// Version 2 migrates the state: count becomes n, and drops on n == 3.
	v2 := helperSrc("st", `    local s = conn:state()
    s.n = s.n + 1
    if s.n == 3 then return "drop" end`,
		`on_reload = function(old) return {n = old.count} end,`)
	load(t, e, "st.lua", v2)
	if d := e.Handle("st", pkt1, conn1); d.Verdict != engine.Drop || d.Err != nil {
		t.Fatalf("third packet after reload: verdict %v, err %v; state was not kept", d.Verdict, d.Err)
	}
	// A reload without on_reload keeps the table as it is.
	load(t, e, "st.lua", helperSrc("st", `    if conn:state().n ~= 3 then error("lost state") end`))
	if d := e.Handle("st", pkt1, conn1); d.Err != nil {
		t.Fatal(d.Err)
	}
	// Another connection has its own state; a forgotten one starts over.
	e.Forget(conn1.Key())
	if d := e.Handle("st", pkt1, conn1); d.Err == nil {
		t.Fatal("state survived Forget")
	}
}

func TestReloadWhileHandling(t *testing.T) {
	// Four workers on a loaded two-core host can stall a call past the
	// default 50 ms budget: this test is about reloads, not budgets.
	e := newEngine(t, engine.Config{Workers: 4, Budget: time.Second})
	load(t, e, "c.lua", helperSrc("c", "    conn:state().n = (conn:state().n or 0) + 1"))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := enginetest.Conn(uint32(g+1), "192.0.2.1", "192.0.2.2", uint16(40000+g), 2121, 0)
			for range 500 {
				if d := e.Handle("c", pkt1, c); d.Err != nil {
					t.Error(d.Err)
					return
				}
			}
		}()
	}
	for i := range 20 {
		if _, err := e.Load("c.lua", []byte(helperSrc("c", fmt.Sprintf("    conn:state().n = (conn:state().n or 0) + 1 -- v%d", i))), nil); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	st, _ := e.Stats("c")
	if st.Packets != 2000 || st.Errors != 0 || st.Reloads != 20 {
		t.Errorf("stats = %+v, want 2000 packets, 0 errors, 20 reloads", st)
	}
}

func TestUnknownHelperAccepts(t *testing.T) {
	e := newEngine(t, engine.Config{Workers: 1})
	d := e.Handle("nope", pkt1, conn1)
	if d.Verdict != engine.Accept || !errors.Is(d.Err, engine.ErrNotFound) {
		t.Fatalf("got %v %v", d.Verdict, d.Err)
	}
}

// TestPayloadOnly: a payload_only helper never sees packets without
// payload; they are accepted and counted as skipped.
func TestPayloadOnly(t *testing.T) {
	empty := enginetest.Segment{Src: "192.0.2.1", Dst: "192.0.2.2", SrcPort: 40000, DstPort: 2121,
		Seq: 1000}.Packet(engine.CTEstablished)
	tests := []struct {
		name       string
		decl       string
		pkt        *engine.Packet
		want       engine.Verdict
		skipped    uint64
		handleSkip bool
	}{
		{"empty segment skipped", "payload_only = true,", empty, engine.Accept, 1, true},
		{"segment with payload runs", "payload_only = true,", pkt1, engine.Drop, 0, false},
		{"empty segment runs without payload_only", "", empty, engine.Drop, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t, engine.Config{Workers: 1})
			load(t, e, "x.lua", helperSrc("x", `return "drop"`, tt.decl))
			if got := e.Skip("x", tt.pkt); got != tt.handleSkip {
				t.Errorf("Skip = %v, want %v", got, tt.handleSkip)
			}
			if d := e.Handle("x", tt.pkt, conn1); d.Verdict != tt.want {
				t.Errorf("verdict %v, want %v", d.Verdict, tt.want)
			}
			st, _ := e.Stats("x")
			if want := 2 * tt.skipped; st.Skipped != want {
				t.Errorf("skipped %d, want %d", st.Skipped, want)
			}
		})
	}
}
