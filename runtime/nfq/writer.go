package nfq

// The receive loop's verdicts are written by a goroutine of their own, so
// that the kernel's work on a batch of verdicts (each write reinjects its
// packets: the rest of the firewall's hooks, forwarding, delivery, all in
// the writing thread) runs on one CPU while the receive loop takes and
// runs the next batch on another. Two buffers take turns: the loop fills
// one while the writer writes the other. Order is kept: the writer writes
// the loop's batches in the order they were handed over, and before a
// lane, which writes its own verdicts, gets a packet of a connection
// whose verdict the loop gave, the loop waits until that verdict is
// written (settle).

// A written is one handed-over batch: the verdicts, and the jobs among
// them whose accounting ends once they are written.
type written struct {
	buf  []byte
	done int
}

// startWriter starts the goroutine that writes the receive loop's
// batches; it ends when the queue stops (done).
func (q *Queue) startWriter() { go q.writer() }

func (q *Queue) writer() {
	for {
		select {
		case w := <-q.toWrite:
			q.write(w.buf)
			if w.done > 0 {
				q.pending.Add(-int64(w.done))
				q.busy.Add(-w.done)
			}
			q.spare <- w.buf[:0]
		case <-q.done:
			return
		}
	}
}

// flushOwn hands the receive loop's verdicts to the writer, after the
// batch before them is written; the loop goes on filling the other
// buffer.
func (q *Queue) flushOwn() {
	if len(q.rout) == 0 {
		return
	}
	next := q.idle
	if q.inFlight {
		select {
		case next = <-q.spare:
		case <-q.done:
			return // stopped: the socket is closed, nothing is written
		}
	}
	select {
	case q.toWrite <- written{buf: q.rout, done: q.rdone}:
	case <-q.done:
		return
	}
	q.inFlight = true
	q.rout, q.idle, q.rdone = next[:0], nil, 0
}

// settle sends the receive loop's verdicts and waits until they are
// written: after it, no verdict of the loop's can be overtaken by a
// lane's.
func (q *Queue) settle() {
	q.flushOwn()
	if q.inFlight {
		select {
		case q.idle = <-q.spare:
			q.inFlight = false
		case <-q.done:
		}
	}
	for _, l := range q.lanes {
		l.inRout = false
	}
}
