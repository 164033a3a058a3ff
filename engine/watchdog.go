package engine

import "time"

// watchdog stops callbacks that run past the budget, and abandons the
// workers whose calls do not return long after. It checks every quarter
// budget while a call runs, so a runaway call is stopped within 1.25
// budgets. When no call runs at a check, it sleeps until one starts
// (wakeWatchdog): an idle daemon, or one whose packets the helpers'
// declarations keep out of Lua, is not woken four times a budget.
func (e *Engine) watchdog() {
	defer close(e.done)
	every := e.cfg.Budget / 4
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case now := <-t.C:
			if e.patrol(int64(now.Sub(e.epoch))) {
				continue
			}
			// Asleep first, then a last look: a call that starts after
			// the look finds asleep set and wakes the watchdog.
			e.asleep.Store(true)
			if e.patrol(e.clock()) {
				e.asleep.Store(false)
				continue
			}
			t.Stop()
			select {
			case <-e.stop:
				return
			case <-e.wake:
			}
			t.Reset(every)
		}
	}
}

// patrol stops the calls past the budget and abandons the workers stuck
// past StuckAfter, and reports whether a call is running.
func (e *Engine) patrol(now int64) (running bool) {
	for i := range e.workers {
		w := e.workers[i].Load()
		stuck, busy := w.expire(now, e.cfg.Budget, e.cfg.StuckAfter)
		if stuck {
			e.abandon(i, w)
		}
		running = running || busy
	}
	return running
}

// wakeWatchdog wakes the watchdog if it sleeps; a call that has just
// started calls it.
func (e *Engine) wakeWatchdog() {
	if e.asleep.Load() && e.asleep.CompareAndSwap(true, false) {
		select {
		case e.wake <- struct{}{}:
		default:
		}
	}
}
