package engine_test

import (
	"testing"

	"github.com/ctlua/ctlua/engine"
)

// BenchmarkHandleEmpty is the engine's fixed cost per packet: Handle on a
// helper whose on_packet does nothing (the counters, the latency
// histogram, the worker hand-over and the Lua call).
func BenchmarkHandleEmpty(b *testing.B) {
	e := newEngine(b, engine.Config{Workers: 1})
	load(b, e, "x.lua", helperSrc("x", ""))
	b.ReportAllocs()
	for b.Loop() {
		if d := e.Handle("x", pkt1, conn1); d.Err != nil {
			b.Fatal(d.Err)
		}
	}
}
