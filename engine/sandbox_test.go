package engine_test

import (
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ctlua/ctlua/bindings"
	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/engine/enginetest"
	"github.com/ctlua/ctlua/stdlib"
	lua "github.com/yuin/gopher-lua"
)

func TestBudgetRange(t *testing.T) {
	for _, tt := range []struct {
		budget time.Duration
		ok     bool
	}{
		{0, true}, {engine.MinBudget, true}, {engine.MaxBudget, true}, {50 * time.Millisecond, true},
		{3, false}, {-time.Millisecond, false}, {engine.MinBudget - 1, false}, {engine.MaxBudget + 1, false},
	} {
		e, err := engine.New(engine.Config{Workers: 1, Budget: tt.budget})
		if (err == nil) != tt.ok {
			t.Errorf("New(Budget %s): %v, want ok=%v", tt.budget, err, tt.ok)
		}
		if e != nil {
			e.Close()
		}
	}
}

// connN returns a distinct connection per n.
func connN(n int) *engine.Conn {
	return enginetest.Conn(uint32(n), "192.0.2.1", "192.0.2.2", uint16(1024+n), 2121, 0)
}

func TestOnReloadFailureResetsState(t *testing.T) {
	e := newEngine(t, engine.Config{Workers: 1})
	load(t, e, "r.lua", helperSrc("r", `    conn:state().n = (conn:state().n or 0) + 1`))
	e.Handle("r", pkt1, conn1)
	e.Handle("r", pkt1, conn1)
	load(t, e, "r.lua", helperSrc("r", `    local st = conn:state()
    if st.n ~= nil then return "drop" end
    st.m = true`, `on_reload = function(old) error("cannot migrate") end,`))
	for i := range 3 {
		if d := e.Handle("r", pkt1, conn1); d.Err != nil || d.Verdict != engine.Accept {
			t.Fatalf("packet %d after the failed on_reload: %s %v, want accept on an empty state", i, d.Verdict, d.Err)
		}
	}
	if st, _ := e.Stats("r"); st.StateResets != 1 {
		t.Fatalf("StateResets = %d, want 1", st.StateResets)
	}
}

func TestReloadCopiesDataOnly(t *testing.T) {
	e := newEngine(t, engine.Config{Workers: 1})
	load(t, e, "c.lua", helperSrc("c", `    local st = conn:state()
    st.f = function() return 1 end
    st.t = {a = "x", [1] = 2, nested = {true}}
    st.self = st
    setmetatable(st.t, {__index = function() return "leak" end})`))
	e.Handle("c", pkt1, conn1)
	load(t, e, "c.lua", helperSrc("c", `    local st = conn:state()
    if st.f ~= nil or st.t.a ~= "x" or st.t[1] ~= 2 or st.t.nested[1] ~= true or st.self ~= st then return "drop" end
    if st.t.missing ~= nil or getmetatable(st.t) ~= nil then return "drop" end`))
	if d := e.Handle("c", pkt1, conn1); d.Err != nil || d.Verdict != engine.Accept {
		t.Fatalf("%s %v: the next version must get the old state's data and nothing else", d.Verdict, d.Err)
	}
}

func TestStateEvictionLRU(t *testing.T) {
	e := newEngine(t, engine.Config{Workers: 1, MaxStates: 4})
	load(t, e, "l.lua", helperSrc("l", `    local st = conn:state()
    st.n = (st.n or 0) + 1
    if st.n > 1 then return "drop" end`))
	for n := 1; n <= 4; n++ {
		e.Handle("l", pkt1, connN(n))
	}
	e.Handle("l", pkt1, connN(1)) // 1 is now the most recent: 2 goes first
	e.Handle("l", pkt1, connN(5))
	if d := e.Handle("l", pkt1, connN(2)); d.Verdict != engine.Accept {
		t.Fatal("connection 2's state survived: the least recently used state must go first")
	}
	if d := e.Handle("l", pkt1, connN(5)); d.Verdict != engine.Drop {
		t.Fatal("connection 5's state was evicted")
	}
	if st, _ := e.Stats("l"); st.StateEvictions != 2 {
		t.Fatalf("StateEvictions = %d, want 2", st.StateEvictions)
	}
}

func TestStateEvictionBytes(t *testing.T) {
	e := newEngine(t, engine.Config{Workers: 1, StateBytes: 10 << 10, ConnStateBytes: 8 << 10})
	load(t, e, "b.lua", helperSrc("b", `    conn:state().blob = string.rep("x", 3000)`))
	for n := 1; n <= 10; n++ {
		if d := e.Handle("b", pkt1, connN(n)); d.Err != nil {
			t.Fatal(d.Err)
		}
	}
	if st, _ := e.Stats("b"); st.StateEvictions < 7 {
		t.Fatalf("StateEvictions = %d: 10 states of 3 KB must not fit in 10 KB", st.StateEvictions)
	}
}

func TestForgetDropsState(t *testing.T) {
	e := newEngine(t, engine.Config{Workers: 2})
	load(t, e, "f.lua", helperSrc("f", `    local st = conn:state()
    st.n = (st.n or 0) + 1
    if st.n > 1 then return "drop" end`))
	e.Handle("f", pkt1, conn1)
	e.Forget(conn1.Key())
	if d := e.Handle("f", pkt1, conn1); d.Verdict != engine.Accept {
		t.Fatal("state survived Forget")
	}
}

// blockModule's block() waits in Go, the first time it is called, until
// release is closed: Go code a budget cannot stop.
type blockModule struct {
	release chan struct{}
	calls   *atomic.Int32
}

func (blockModule) Name() string { return "block" }
func (m blockModule) Open(L *lua.LState, _ *engine.Session) lua.LValue {
	return L.NewFunction(func(L *lua.LState) int {
		if m.calls.Add(1) == 1 {
			<-m.release
		}
		return 0
	})
}

func TestStuckWorkerIsAbandoned(t *testing.T) {
	m := blockModule{release: make(chan struct{}), calls: new(atomic.Int32)}
	e, err := engine.New(engine.Config{Workers: 1, Budget: 5 * time.Millisecond, StuckAfter: 50 * time.Millisecond,
		Modules: []engine.Module{m}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	src := `local block = require("block")
return {name = "s", l4 = "tcp", default_verdict = "drop", policies = {{name = "d", max_expected = 1, timeout = 1}},
  on_packet = function(pkt, conn) block() end}`
	if _, err := e.Load("s.lua", []byte(src), nil); err != nil {
		t.Fatal(err)
	}
	stuck := make(chan engine.Decision)
	go func() { stuck <- e.Handle("s", pkt1, connN(1)) }()
	// The next packet of the same worker is served once the stuck worker
	// is abandoned, long before the stuck call returns.
	time.Sleep(10 * time.Millisecond)
	if d := e.Handle("s", pkt1, connN(2)); d.Err != nil {
		t.Fatalf("packet after the stuck one: %v", d.Err)
	}
	close(m.release)
	d := <-stuck
	var se *engine.ScriptError
	if !errors.As(d.Err, &se) || se.Kind != engine.KindAbandoned || d.Verdict != engine.Drop {
		t.Fatalf("stuck packet: %s %v, want the default verdict, abandoned", d.Verdict, d.Err)
	}
	if st, _ := e.Stats("s"); st.Abandoned != 1 {
		t.Fatalf("Abandoned = %d", st.Abandoned)
	}
}

var stress = flag.Duration("stress", 0, "run TestReloadUnderLoad for this long (default: a short run)")

// TestReloadUnderLoad reloads a helper while goroutines send packets: no
// packet may be mis-judged (a trivial on_packet never times out or
// fails), and every packet gets one decision. The budget is wall-clock
// time: a call that the host stalled past it (it took the budget, as the
// test measured it) times out rightly, and is counted apart; a timeout
// of a call that took less is the engine's fault.
func TestReloadUnderLoad(t *testing.T) {
	budget := engine.DefaultBudget
	if raceEnabled {
		budget = time.Second
	}
	e := newEngine(t, engine.Config{Workers: 2, Budget: budget})
	src := func(v int) string {
		return helperSrc("u", fmt.Sprintf(`    local st = conn:state()
    st.n = (st.n or 0) + 1 -- v%d`, v), `on_reload = function(old) return old end,`)
	}
	load(t, e, "u.lua", src(0))
	run := *stress
	reloads := 150
	if run == 0 {
		run = time.Hour // bounded by reloads
	} else {
		reloads = 1 << 30
	}
	var stop atomic.Bool
	var packets, misjudged, stalled atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				start := time.Now()
				d := e.Handle("u", pkt1, connN(g*1000+i%50))
				took := time.Since(start)
				packets.Add(1)
				var se *engine.ScriptError
				if errors.As(d.Err, &se) && se.Kind == engine.KindTimeout && took >= budget {
					stalled.Add(1)
					continue
				}
				if d.Err != nil || d.Verdict != engine.Accept {
					misjudged.Add(1)
					t.Errorf("packet mis-judged: %s %v", d.Verdict, d.Err)
				}
			}
		}()
	}
	var lat []time.Duration
	deadline := time.Now().Add(run)
	for v := 1; v <= reloads && time.Now().Before(deadline); v++ {
		start := time.Now()
		if _, err := e.Load("u.lua", []byte(src(v)), nil); err != nil {
			t.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	stop.Store(true)
	wg.Wait()
	slices.Sort(lat)
	st, _ := e.Stats("u")
	t.Logf("%d packets, %d reloads, %d mis-judged, %d stalled past the budget by the host; reload latency p50 %s p99 %s max %s",
		packets.Load(), len(lat), misjudged.Load(), stalled.Load(), lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1])
	n := uint64(stalled.Load())
	if st.Packets != uint64(packets.Load()) || st.Accepted != st.Packets || st.Errors != n || st.StateResets > n {
		t.Fatalf("stats %+v: want one accepted decision per packet", st)
	}
	if !strings.Contains(e.Helper("u").File, "u.lua") {
		t.Fatal("helper lost")
	}
}

// TestForgetWhileBusy: a connection forgotten while its worker runs a
// packet is forgotten before the worker's next packet.
func TestForgetWhileBusy(t *testing.T) {
	m := blockModule{release: make(chan struct{}), calls: new(atomic.Int32)}
	e, err := engine.New(engine.Config{Workers: 1, Modules: append([]engine.Module{m}, append(bindings.Default(), stdlib.Modules()...)...)})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	load(t, e, "f.lua", helperSrc("f", `    local block = require("block")
    local st = conn:state()
    st.n = (st.n or 0) + 1
    if conn:id() == 9 then block() end
    if st.n > 1 then return "drop" end`))
	e.Handle("f", pkt1, conn1)
	done := make(chan struct{})
	go func() { e.Handle("f", pkt1, connN(9)); close(done) }()
	for m.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	e.Forget(conn1.Key()) // the worker is busy: queued
	close(m.release)
	<-done
	if d := e.Handle("f", pkt1, conn1); d.Verdict != engine.Accept {
		t.Fatal("state survived a Forget issued while the worker was busy")
	}
}
