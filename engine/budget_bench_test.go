package engine

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// BenchmarkBudget compares ways of bounding a callback's run time, on a
// no-op callback and on one that runs a 100-iteration loop:
//
//   - none: no bound at all (gopher-lua's plain VM loop);
//   - context-per-call: context.WithTimeout around each call;
//   - watchdog: what the engine does, a long-lived cancellable context per
//     state and a clock read plus two atomic operations per call.
func BenchmarkBudget(b *testing.B) {
	bodies := map[string]string{
		"noop":     "return function() end",
		"loop-100": "return function() local s = 0 for i = 1, 100 do s = s + i end return s end",
	}
	for _, body := range []string{"noop", "loop-100"} {
		setup := func(b *testing.B) (*lua.LState, *lua.LFunction) {
			L := lua.NewState(lua.Options{SkipOpenLibs: true})
			if err := L.DoString(bodies[body]); err != nil {
				b.Fatal(err)
			}
			fn := L.Get(-1).(*lua.LFunction)
			L.Pop(1)
			return L, fn
		}
		b.Run(body+"/none", func(b *testing.B) {
			L, fn := setup(b)
			defer L.Close()
			b.ReportAllocs()
			for b.Loop() {
				L.Push(fn)
				if err := L.PCall(0, 0, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(body+"/context-per-call", func(b *testing.B) {
			L, fn := setup(b)
			defer L.Close()
			b.ReportAllocs()
			for b.Loop() {
				ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
				L.SetContext(ctx)
				L.Push(fn)
				if err := L.PCall(0, 0, nil); err != nil {
					b.Fatal(err)
				}
				cancel()
			}
		})
		b.Run(body+"/watchdog", func(b *testing.B) {
			L, fn := setup(b)
			defer L.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			L.SetContext(ctx)
			var start atomic.Int64
			b.ReportAllocs()
			for b.Loop() {
				st := time.Now().UnixNano()
				start.Store(st)
				L.Push(fn)
				if err := L.PCall(0, 0, nil); err != nil {
					b.Fatal(err)
				}
				start.CompareAndSwap(st, 0)
			}
		})
	}
}
