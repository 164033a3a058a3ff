// Package tick provides a ticker that sleeps while there is nothing to
// watch: the engine's watchdog and each queue's supervisor look at the
// running calls a few times a budget while one runs, and not at all while
// none does, so that an idle daemon is not woken for nothing.
package tick

import (
	"sync/atomic"
	"time"
)

// A Ticker calls a check every period while the check reports work, and
// sleeps from the first check that reports none until Wake.
type Ticker struct {
	every  time.Duration
	asleep atomic.Bool
	wake   chan struct{}
}

// New returns a Ticker of the given period.
func New(every time.Duration) *Ticker {
	return &Ticker{every: every, wake: make(chan struct{}, 1)}
}

// Run calls check every period until done is closed. When check reports
// no work, Run sleeps until Wake. Before it sleeps it marks itself asleep
// and checks once more, so that work that starts after that last check
// finds it asleep and wakes it: whoever starts work makes it visible to
// check first (under the lock check takes), then calls Wake.
func (t *Ticker) Run(done <-chan struct{}, check func(now time.Time) (work bool)) {
	tk := time.NewTicker(t.every)
	defer tk.Stop()
	for {
		select {
		case <-done:
			return
		case now := <-tk.C:
			if check(now) {
				continue
			}
			t.asleep.Store(true)
			if check(time.Now()) {
				t.asleep.Store(false)
				continue
			}
			tk.Stop()
			select {
			case <-done:
				return
			case <-t.wake:
			}
			tk.Reset(t.every)
		}
	}
}

// Wake wakes the Ticker if it sleeps. It costs an atomic load when it
// does not.
func (t *Ticker) Wake() {
	if t.asleep.Load() && t.asleep.CompareAndSwap(true, false) {
		select {
		case t.wake <- struct{}{}:
		default:
		}
	}
}

// Asleep reports whether the Ticker sleeps.
func (t *Ticker) Asleep() bool { return t.asleep.Load() }
