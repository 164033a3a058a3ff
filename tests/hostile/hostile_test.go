// Package hostile runs the corpus of hostile and buggy helper scripts
// (README.md) through the engine.
package hostile

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ctlua/ctlua/bindings"
	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/engine/enginetest"
	"github.com/ctlua/ctlua/stdlib"
)

const budget = 50 * time.Millisecond

var (
	conn = enginetest.Conn(1, "192.0.2.1", "192.0.2.2", 40000, 2121, 0)
	pkt  = enginetest.Segment{Src: "192.0.2.1", Dst: "192.0.2.2", SrcPort: 40000, DstPort: 2121,
		Seq: 1000, Payload: "HELLO\r\n"}.Packet(engine.CTEstablished)
	wantRE = regexp.MustCompile(`(?m)^-- want: (\S+) ?(.*)$`)
	nameRE = regexp.MustCompile(`name = "[^"]*"`)
)

func newEngine(t *testing.T) *engine.Engine {
	t.Helper()
	e, err := engine.New(engine.Config{Workers: 2, Budget: budget,
		Modules: append(bindings.Default(), stdlib.Modules()...)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

func TestCorpus(t *testing.T) {
	files, _ := filepath.Glob("*.lua")
	if len(files) == 0 {
		t.Fatal("no scripts")
	}
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		m := wantRE.FindSubmatch(src)
		if m == nil {
			t.Fatalf("%s: no '-- want:' line", file)
		}
		t.Run(strings.TrimSuffix(file, ".lua"), func(t *testing.T) {
			run(t, file, src, string(m[1]), string(m[2]))
		})
	}
}

func run(t *testing.T, file string, src []byte, want, text string) {
	e := newEngine(t)
	start := time.Now()
	h, err := e.Load(file, src, nil)
	if want == "load-error" {
		if err == nil || !strings.Contains(err.Error(), text) {
			t.Fatalf("Load: %v, want an error naming %q", err, text)
		}
		t.Logf("refused in %s: %v", time.Since(start).Round(time.Millisecond), err)
		// ctlua check applies the same rule as the daemon's load.
		if _, err := e.Check(file, src, nil); err == nil || !strings.Contains(err.Error(), text) {
			t.Fatalf("Check: %v, want an error naming %q like Load", err, text)
		}
		return
	}
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	start = time.Now()
	d := e.Handle(h.Spec.Name, pkt, conn)
	took := time.Since(start)
	switch want {
	case "packet-error":
		var se *engine.ScriptError
		if !errors.As(d.Err, &se) || !strings.Contains(se.Error(), text) {
			t.Fatalf("first packet: error %v, want one naming %q", d.Err, text)
		}
		if d.Verdict != engine.Drop || se.Line == 0 || len(se.Msg) > 2*engine.MaxMessageLen {
			t.Fatalf("first packet: verdict %s, error at line %d (%d bytes): want the default verdict, a line, a short message",
				d.Verdict, se.Line, len(se.Msg))
		}
		t.Logf("%s in %s: %v", d.Verdict, took.Round(time.Millisecond), se)
		if d := e.Handle(h.Spec.Name, pkt, conn); d.Err != nil || d.Verdict != engine.Accept {
			t.Fatalf("second packet: %s, %v: the helper must keep serving", d.Verdict, d.Err)
		}
	case "isolated":
		t.Logf("attack: %s %v", d.Verdict, d.Err)
		victim(t, e, "victim.lua", "victim")
		// The next version of the attacker must start clean too.
		victim(t, e, file, h.Spec.Name)
		victim(t, e, "victim.lua", "victim")
	default:
		t.Fatalf("unknown want %q", want)
	}
	// Every case is stopped well within the budget's order of magnitude;
	// the bound is loose on purpose (shared CI machines).
	if took > 40*budget {
		t.Errorf("first packet took %s", took)
	}
}

// victimSrc checks that the standard library is untouched: it accepts
// when it is, and fails (default verdict drop) or drops otherwise.
const victimSrc = `
local function clean()
  local s = "abc"
  return s:upper() == "ABC" and string.upper(s) == "ABC" and tostring(1) == "1"
    and type(s) == "string" and ("x"):rep(3) == "xxx" and math.floor(1.5) == 1
    and getmetatable("") == "locked" and _G.tostring == tostring
end
return {
  name = "victim", l4 = "tcp", ports = {2121}, default_verdict = "drop",
  policies = {{name = "data", max_expected = 1, timeout = 60}},
  on_packet = function(pkt, conn)
    if not clean() or pkt:dir() ~= "original" then return "drop" end
    return "accept"
  end,
}`

func victim(t *testing.T, e *engine.Engine, file, name string) {
	t.Helper()
	src := nameRE.ReplaceAllString(victimSrc, `name = "`+name+`"`)
	if _, err := e.Load(file, []byte(src), nil); err != nil {
		t.Fatalf("victim: %v", err)
	}
	if d := e.Handle(name, pkt, conn); d.Err != nil || d.Verdict != engine.Accept {
		t.Fatalf("victim %s (%s): %s %v: the attack reached it", name, file, d.Verdict, d.Err)
	}
}

// TestGenerated loads scripts too large to keep as files: deep nesting
// that overflowed the Go stack in gopher-lua's compiler and killed the
// process, and oversized sources.
func TestGenerated(t *testing.T) {
	n := 1000000
	if testing.Short() {
		n = 100000
	}
	ret := func(s string) string {
		return s + "\nreturn {name = \"g\", l4 = \"tcp\", policies = {{name = \"d\", max_expected = 1, timeout = 1}}, on_packet = function() end}"
	}
	tests := []struct{ name, src, want string }{
		{"braces", ret("local x = " + strings.Repeat("{", n/10) + strings.Repeat("}", n/10)), "nesting"},
		{"not", ret("local x = " + strings.Repeat("not ", n/10) + "1"), "nesting"},
		{"minus", ret("local x = " + strings.Repeat("- ", n/10) + "1"), "nesting"},
		{"parens", ret("local x = " + strings.Repeat("(", n/10) + "1" + strings.Repeat(")", n/10)), ""}, // the parser drops them
		{"concat", ret("local x = 'a'" + strings.Repeat("..'a'", n/20)), "nesting"},
		{"plus", ret("local x = 1" + strings.Repeat("+1", n/10)), "nesting"},
		{"if", ret(strings.Repeat("if x then ", n/50) + strings.Repeat("end ", n/50)), "nesting"},
		{"functions", ret(strings.Repeat("local function f() ", n/50) + strings.Repeat("end ", n/50)), "nesting"},
		{"calls", ret("local x = " + strings.Repeat("f(", n/10) + strings.Repeat(")", n/10)), "nesting"},
		{"index", ret("local x = a" + strings.Repeat("[1]", n/10)), "nesting"},
		{"too-large", ret(strings.Repeat(" ", engine.MaxSourceSize)), "bytes"},
		{"a-million-braces", ret("local x = " + strings.Repeat("{", n) + strings.Repeat("}", n)), "bytes"},
	}
	e := newEngine(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := e.Check(tt.name+".lua", []byte(tt.src), nil)
			if tt.want == "" && err == nil {
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Check: %v, want an error naming %q", err, tt.want)
			}
			t.Logf("%d bytes refused in %s: %v", len(tt.src), time.Since(start).Round(time.Millisecond), err)
		})
	}
}

// TestNestingWithinBounds: nesting up to the bound and long elseif chains
// still compile.
func TestNestingWithinBounds(t *testing.T) {
	e := newEngine(t)
	chain := "if x == 0 then y = 0" + strings.Repeat(" elseif x == 1 then y = 1", 1000) + " end"
	src := "local x, y = 1\n" + chain + "\nlocal t = " + strings.Repeat("{", engine.MaxNesting-10) + strings.Repeat("}", engine.MaxNesting-10) +
		"\nreturn {name = \"g\", l4 = \"tcp\", policies = {{name = \"d\", max_expected = 1, timeout = 1}}, on_packet = function() end}"
	if _, err := e.Check("ok.lua", []byte(src), nil); err != nil {
		t.Fatal(err)
	}
}
