package engine_test

import (
	"bytes"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/engine/enginetest"
)

func TestStatsCountInsertsHuntsAndRefusals(t *testing.T) {
	x := &enginetest.Expecter{}
	// Another master holds port 5000: the hunt clashes once, then
	// inserts; the plain insert of 5000 is refused.
	x.Occupy(engine.Expectation{Tuple: engine.Tuple{Src: netip.MustParseAddr("192.0.2.2"),
		Dst: netip.MustParseAddr("192.0.2.1"), Proto: engine.ProtoTCP, DstPort: 5000},
		Mask: engine.Tuple{Src: netip.MustParseAddr("255.255.255.255"), DstPort: 0xffff}})
	e := newEngine(t, engine.Config{Workers: 1, Expecter: x})
	load(t, e, "x.lua", helperSrc("x", `
    local port = expect.hunt{src = "192.0.2.2", dst = "192.0.2.1", dport = 5000}
    assert(port and port ~= 5000, "hunt")
    local ok = expect.insert{src = "192.0.2.2", dst = "192.0.2.1", dport = 5000}
    assert(not ok, "insert of a held port")
    assert(expect.insert{src = "192.0.2.2", dst = "192.0.2.1", dport = 6000}, "insert")
    expect.create{src = "192.0.2.2", dst = "192.0.2.1", dport = 7000}`))
	if d := e.Handle("x", pkt1, conn1); d.Err != nil {
		t.Fatal(d.Err)
	}
	st, _ := e.Stats("x")
	got := [5]uint64{st.ExpectInserted, st.ExpectHunted, st.ExpectRefused, st.HuntClashes, st.Expectations}
	if want := [5]uint64{2, 1, 1, 1, 1}; got != want {
		t.Errorf("inserted, hunted, refused, clashes, in decisions = %v, want %v", got, want)
	}
}

func TestStatsLatencyAndStates(t *testing.T) {
	e := newEngine(t, engine.Config{Workers: 2})
	load(t, e, "x.lua", helperSrc("x", `conn:state().n = 1`))
	for i := range 5 {
		c := enginetest.Conn(uint32(i+1), "192.0.2.1", "192.0.2.2", uint16(40000+i), 2121, 0)
		if d := e.Handle("x", pkt1, c); d.Err != nil {
			t.Fatal(d.Err)
		}
	}
	st, _ := e.Stats("x")
	if st.States != 5 {
		t.Errorf("States = %d, want 5", st.States)
	}
	var n uint64
	for _, b := range st.Latency.Buckets {
		n += b
	}
	if st.Latency.Count != 5 || n != 5 || st.Latency.Sum <= 0 {
		t.Errorf("latency = %+v, want 5 observations with a positive sum", st.Latency)
	}
	e.Forget(conn1.Key())
	if st, _ = e.Stats("x"); st.States != 4 {
		t.Errorf("States after Forget = %d, want 4", st.States)
	}
}

func TestRecentErrors(t *testing.T) {
	e := newEngine(t, engine.Config{Workers: 1})
	load(t, e, "x.lua", helperSrc("x", `error("boom")`))
	for range 10 {
		e.Handle("x", pkt1, conn1)
	}
	if _, err := e.Load("x.lua", []byte("return {\n  name = 7,\n}"), nil); err == nil {
		t.Fatal("a broken script loaded")
	}
	e.RefuseReload("x.lua", errors.New("the kernel would need a new registration"))
	e.RefuseReload("other.lua", errors.New("not loaded: not counted"))
	recs := e.RecentErrors("x")
	if len(recs) != 8 {
		t.Fatalf("%d records, want the last 8", len(recs))
	}
	first, load, refused := recs[5], recs[6], recs[7]
	if first.Kind != "runtime error" || first.At != "x.lua:7" || !strings.Contains(first.Msg, "boom") {
		t.Errorf("script error record = %+v", first)
	}
	if load.Kind != "reload" || load.At != "x.lua:2" || !strings.HasPrefix(load.Msg, "name: must be a string") || refused.Kind != "reload" ||
		!strings.Contains(refused.Msg, "new registration") || time.Since(refused.Time) > time.Minute {
		t.Errorf("reload records = %+v, %+v", load, refused)
	}
	if st, _ := e.Stats("x"); st.ReloadFailures != 2 || st.Errors != 10 {
		t.Errorf("ReloadFailures = %d, Errors = %d; want 2 and 10", st.ReloadFailures, st.Errors)
	}
	if e.RecentErrors("nope") != nil {
		t.Error("records of an unknown helper")
	}
}

func TestScriptLogCarriesLocation(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	e := newEngine(t, engine.Config{Workers: 1, Logger: log})
	load(t, e, "dir/x.lua", helperSrc("x", `
    local log = require("ctlua.log")
    log.info("seen", {cmd = "PORT"})`))
	e.Handle("x", pkt1, conn1)
	out := buf.String()
	for _, want := range []string{`"msg":"seen"`, `"helper":"x"`, `"conn":1`, `"at":"dir/x.lua:9"`, `"cmd":"PORT"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log %s lacks %s", out, want)
		}
	}
}
