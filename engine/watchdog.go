package engine

import "time"

// watchdog stops callbacks that run past the budget, and abandons the
// workers whose calls do not return long after. It checks every quarter
// budget while a call runs, so a runaway call is stopped within 1.25
// budgets, and sleeps while none runs: a starting call wakes it (pcall).
func (e *Engine) watchdog() {
	defer close(e.done)
	e.dog.Run(e.stop, func(now time.Time) bool { return e.patrol(int64(now.Sub(e.epoch))) })
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
