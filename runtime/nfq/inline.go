package nfq

import "time"

// A call that runs inline longer than inlineSlow turns inline runs off
// for inlineBackoff packets. A call usually costs microseconds natively,
// up to a millisecond under emulation, where a loaded host also stretches
// a call's wall time by tens of milliseconds now and then: the threshold
// is well above that, well below the budget.
const (
	inlineSlow    = 20 * time.Millisecond
	inlineBackoff = 100
)

// inlineAllowed reports whether the receive loop may run a packet inline,
// counting down the packets of a backoff.
func (q *Queue) inlineAllowed() bool {
	if q.inlineOff.Load() == 0 {
		return true
	}
	q.inlineOff.Add(-1)
	return false
}

// runInline runs j in the engine on the receive loop's own goroutine and
// adds its verdict to the loop's, sent once per batch: no hand-off to the
// lane's goroutine, no wake-up, no write of its own. The pump does it for
// a packet whose lane has nothing unanswered (no earlier packet of its
// connection can be overtaken). If the call gets stuck, the supervisor
// answers j, sends the loop's verdicts, deposes this receive loop and
// starts another with the rest of the batch (depose); runInline then
// returns false and the deposed loop ends.
//
// While a packet runs inline, no other packet is received: a slow call
// delays every connection. So a call slower than inlineSlow turns inline
// runs off for the next inlineBackoff packets: a helper with slow calls
// gets the lanes, where a slow connection delays only its own worker's
// packets.
func (q *Queue) runInline(l *lane, j *job, scratch *[]byte) bool {
	gen := q.pumpGen.Load()
	l.mu.Lock()
	l.cur, l.curInline = j, true
	l.seq++
	l.mu.Unlock()
	q.sup.Wake()
	*scratch = q.handle(j, (*scratch)[:0])
	if j.decision.Took > inlineSlow {
		q.inlineOff.Store(inlineBackoff)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if q.pumpGen.Load() != gen {
		return false
	}
	l.cur, l.curInline = nil, false
	if claim(j) {
		q.inlineRuns.Add(1)
		q.rout = append(q.rout, *scratch...)
		q.verdicts.Add(1)
		q.rdone++
		l.inRout = true
	}
	q.recycle(j)
	return true
}

// depose answers the job stuck inline on the receive loop with the
// default verdict, sends the loop's verdicts and starts a new receive
// loop with the rest of the batch; l.mu is held. The stuck loop touches
// none of this when its call returns: it finds itself deposed and ends.
func (q *Queue) depose(l *lane, j *job) {
	l.cur, l.curInline = nil, false
	q.pumpGen.Add(1)
	if claim(j) {
		q.rout = appendVerdict(q.rout, q.cfg.Queue, family(&j.pkt), j.id, q.defaultVerdict())
		q.verdicts.Add(1)
		q.rdone++
	}
	q.flushOwn()
	left := append([][]byte{q.restHead}, q.rest...)
	go q.receive(left)
}

// awaitDrain waits until lane l has answered all its packets, so that the
// next one can run inline: without it, a lane that got packets during a
// backoff would keep getting them as long as a flood lasts. It gives up
// on a lane stalled in one call for laneWait, like handOver.
func (q *Queue) awaitDrain(l *lane) {
	call := l.calling.Load()
	for l.unanswered.Load() > 0 {
		q.timer.Reset(q.laneWait)
		select {
		case <-l.drained:
			q.timer.Stop()
		case <-q.timer.C:
			now := l.calling.Load()
			if now != 0 && now == call {
				return
			}
			call = now
		}
	}
}
