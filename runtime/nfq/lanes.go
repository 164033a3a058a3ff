package nfq

import (
	"sync/atomic"
	"time"

	"github.com/ctlua/ctlua/engine"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// A lane holds the packets waiting for one engine worker, and the
// goroutine that hands them to the engine. The supervisor replaces a
// lane's goroutine when a packet stays in the engine past StuckAfter.
type lane struct {
	ch  chan *job
	gen atomic.Uint64 // the generation of the lane's current goroutine
	cur atomic.Pointer[inFlight]
}

// inFlight is the packet a lane's goroutine is in the engine with.
type inFlight struct {
	j     *job
	start time.Time
	gen   uint64
}

func (q *Queue) startLanes() {
	for _, l := range q.lanes {
		go q.serve(l, l.gen.Load())
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
	for j := range l.ch {
		f := &inFlight{j: j, start: time.Now(), gen: gen}
		l.cur.Store(f)
		q.handle(j)
		l.cur.CompareAndSwap(f, nil)
		if l.gen.Load() != gen {
			return
		}
	}
}

// supervise answers the packets stuck in the engine past StuckAfter with
// the default verdict and gives their lanes a fresh goroutine.
func (q *Queue) supervise() {
	t := time.NewTicker(max(q.cfg.StuckAfter/4, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-q.done:
			return
		case now := <-t.C:
			for _, l := range q.lanes {
				f := l.cur.Load()
				if f == nil || now.Sub(f.start) < q.cfg.StuckAfter || !l.gen.CompareAndSwap(f.gen, f.gen+1) {
					continue
				}
				q.abandoned.Add(1)
				q.log.Error("a packet stayed in the engine past the deadline: default verdict, its lane gets a fresh goroutine",
					"queue", q.cfg.Queue, "helper", q.cfg.Helper, "deadline", q.cfg.StuckAfter)
				q.answerDefault(f.j)
				go q.serve(l, f.gen+1)
			}
		}
	}
}

// answer sends j's verdict unless it was already sent: every queued
// packet gets exactly one.
func (q *Queue) answer(j *job, m netlink.Message) {
	if !atomic.CompareAndSwapUint32(&j.answered, 0, 1) {
		return
	}
	q.send(m)
	q.pending.Add(-1)
	q.busy.Done()
}

// answerDefault answers j with the helper's default verdict.
func (q *Queue) answerDefault(j *job) {
	v := engine.Accept
	if h := q.e.Helper(q.cfg.Helper); h != nil {
		v = h.Spec.DefaultVerdict
	}
	m, _ := verdictMessage(q.cfg.Queue, unix.AF_INET, j.id, "", &engine.Decision{Verdict: v}, nil)
	q.answer(j, m)
}
