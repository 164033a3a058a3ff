package engine_test

import (
	"testing"

	"github.com/ctlua/ctlua/engine"
)

// BenchmarkStateTableFull measures a packet of a new connection when the
// helper's state table is full: every packet evicts the least recently
// used state. Before the LRU, a full table swept all its states on every
// new connection (6 ms per packet at 65536 states).
func BenchmarkStateTableFull(b *testing.B) {
	e := newEngine(b, engine.Config{Workers: 1})
	load(b, e, "s.lua", helperSrc("s", `    local st = conn:state()
    st.n = (st.n or 0) + 1`))
	for n := range engine.DefaultMaxStates {
		e.Handle("s", pkt1, connN(n))
	}
	n := engine.DefaultMaxStates
	b.ReportAllocs()
	for b.Loop() {
		n++
		if d := e.Handle("s", pkt1, connN(n)); d.Err != nil {
			b.Fatal(d.Err)
		}
	}
	st, _ := e.Stats("s")
	if st.StateEvictions == 0 {
		b.Fatal("no eviction: the table was not full")
	}
}

// BenchmarkStateTableHit is the same packet on a connection whose state
// exists, for comparison.
func BenchmarkStateTableHit(b *testing.B) {
	e := newEngine(b, engine.Config{Workers: 1})
	load(b, e, "s.lua", helperSrc("s", `    local st = conn:state()
    st.n = (st.n or 0) + 1`))
	b.ReportAllocs()
	for b.Loop() {
		e.Handle("s", pkt1, conn1)
	}
}
