package tick

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestSleepsUntilWoken: with no work the Ticker stops calling its check
// until Wake, and Run returns when done closes.
func TestSleepsUntilWoken(t *testing.T) {
	const every = 2 * time.Millisecond
	tk := New(every)
	var checks atomic.Int32
	var work atomic.Bool
	done, ended := make(chan struct{}), make(chan struct{})
	go func() {
		tk.Run(done, func(time.Time) bool { checks.Add(1); return work.Load() })
		close(ended)
	}()
	waitFor(t, "asleep", tk.Asleep)
	n := checks.Load()
	time.Sleep(20 * every)
	if got := checks.Load(); got != n {
		t.Fatalf("asleep, yet checked %d more times", got-n)
	}
	work.Store(true)
	tk.Wake()
	waitFor(t, "checks after Wake", func() bool { return checks.Load() > n+3 })
	if tk.Asleep() {
		t.Fatal("asleep with work")
	}
	work.Store(false)
	waitFor(t, "asleep again", tk.Asleep)
	close(done)
	select {
	case <-ended:
	case <-time.After(time.Second):
		t.Fatal("Run did not return after done closed")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}
