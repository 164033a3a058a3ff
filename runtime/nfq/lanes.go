package nfq

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/ctlua/ctlua/engine"
)

// A lane sends its gathered verdicts when it runs empty, or once it holds
// flushCount of them or flushAt bytes even though more packets wait: the
// kernel holds each packet until its verdict, so a verdict must not wait
// long behind others, and a write must stay well under the socket's send
// buffer.
const (
	flushCount = 16
	flushAt    = 32 << 10
)

// A lane holds the packets waiting for one engine worker, and the
// goroutine that hands them to the engine. The lane's verdicts are
// gathered and sent together whenever the lane runs empty. The supervisor
// replaces a lane's goroutine when a packet stays in the engine past
// StuckAfter.
type lane struct {
	ch chan *job
	// unanswered counts the packets handed to the lane whose verdicts are
	// not sent yet.
	unanswered atomic.Int64
	// drained gets a token when unanswered falls to 0 (awaitDrain).
	drained chan struct{}
	// calling is the seq of the engine call the lane's goroutine is in, 0
	// between calls; stalledAt is the seq of a call the receive loop
	// found the lane full behind for laneWait.
	calling, stalledAt atomic.Uint64
	// inRout is set, by the receive loop only, while its unsent verdicts
	// hold one of this lane's packets.
	inRout bool

	mu  sync.Mutex // guards what follows
	gen uint64     // the generation of the lane's current goroutine
	cur *job       // the packet in the engine, or nil
	// curInline says cur runs on the receive loop (runInline), not on
	// the lane's goroutine.
	curInline bool
	seq       uint64 // counts the packets taken into the engine
	out       []byte // verdicts not sent yet
	n         int    // the packets answered in out
	// seen and since are the supervisor's: the seq it last saw in the
	// engine and when it first saw it.
	seen  uint64
	since time.Time
}

func (q *Queue) startLanes() {
	for _, l := range q.lanes {
		go q.serve(l, 0)
	}
	go q.supervise()
}

// stopLanes closes the lanes: their goroutines end once the lanes are
// empty. Abandoned goroutines end whenever the engine returns.
func (q *Queue) stopLanes() {
	select {
	case <-q.done:
		return
	default:
	}
	close(q.done)
	for _, l := range q.lanes {
		close(l.ch)
	}
}

// serve hands a lane's packets to the engine until the lane closes or the
// goroutine is abandoned (its generation is no longer the lane's).
func (q *Queue) serve(l *lane, gen uint64) {
	var scratch []byte // this goroutine's verdict under construction
	for j := range l.ch {
		l.mu.Lock()
		l.cur = j
		l.seq++
		seq := l.seq
		l.calling.Store(seq)
		l.mu.Unlock()
		q.sup.Wake()
		scratch = q.handle(j, scratch[:0])
		l.calling.CompareAndSwap(seq, 0)
		l.mu.Lock()
		if l.gen != gen {
			// Abandoned: the supervisor answered j and owns the lane.
			l.mu.Unlock()
			return
		}
		l.cur = nil
		if claim(j) {
			l.out = append(l.out, scratch...)
			l.n++
		}
		if len(l.ch) == 0 || l.n >= flushCount || len(l.out) >= flushAt {
			q.flushLane(l)
		}
		l.mu.Unlock()
		q.recycle(j)
	}
	l.mu.Lock()
	q.flushLane(l)
	l.mu.Unlock()
}

// flushLane sends a lane's gathered verdicts; l.mu is held.
func (q *Queue) flushLane(l *lane) {
	if len(l.out) == 0 {
		return
	}
	q.write(l.out)
	q.verdicts.Add(uint64(l.n))
	if l.unanswered.Add(-int64(l.n)) == 0 {
		select {
		case l.drained <- struct{}{}:
		default:
		}
	}
	q.pending.Add(-int64(l.n))
	q.busy.Add(-l.n)
	l.out, l.n = l.out[:0], 0
}

// supervise answers the packets stuck in the engine past StuckAfter with
// the default verdict and gives their lanes a fresh goroutine. It looks
// four times a StuckAfter while a packet is in the engine, and sleeps
// while none is: a lane or the receive loop wakes it (q.sup.Wake) once
// it has set l.cur.
func (q *Queue) supervise() {
	q.sup.Run(q.done, func(now time.Time) (busy bool) {
		for _, l := range q.lanes {
			busy = q.check(l, now) || busy
		}
		return busy
	})
}

// check abandons l's goroutine if the same packet has been in the engine
// since StuckAfter ago, and reports whether a packet is in the engine.
func (q *Queue) check(l *lane, now time.Time) (busy bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cur == nil || l.seq != l.seen {
		l.seen, l.since = l.seq, now
		return l.cur != nil
	}
	if now.Sub(l.since) < q.cfg.StuckAfter {
		return true
	}
	j := l.cur
	l.seen, l.since = l.seq, now
	q.abandoned.Add(1)
	if l.curInline {
		q.log.Error("a packet stayed in the engine past the deadline: default verdict, a fresh receive loop",
			"queue", q.cfg.Queue, "helper", q.cfg.Helper, "deadline", q.cfg.StuckAfter)
		q.depose(l, j)
		return false
	}
	l.cur = nil
	l.gen++
	q.log.Error("a packet stayed in the engine past the deadline: default verdict, its lane gets a fresh goroutine",
		"queue", q.cfg.Queue, "helper", q.cfg.Helper, "deadline", q.cfg.StuckAfter)
	if claim(j) {
		l.out = appendVerdict(l.out, q.cfg.Queue, family(&j.pkt), j.id, q.defaultVerdict())
		l.n++
	}
	q.flushLane(l)
	go q.serve(l, l.gen)
	return false
}

// claim reports whether the caller is the first to answer j: every queued
// packet gets exactly one verdict.
func claim(j *job) bool { return atomic.CompareAndSwapUint32(&j.answered, 0, 1) }

// decision runs the helper on j.
func (q *Queue) decision(j *job) engine.Decision {
	if j.skip { // counted as skipped when the receive loop asked
		return engine.Decision{Verdict: engine.Accept}
	}
	return q.e.Handle(q.cfg.Helper, &j.pkt, &j.conn)
}
