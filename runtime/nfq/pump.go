package nfq

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/ctlua/ctlua/engine"
	"golang.org/x/sys/unix"
)

// nfnetlink_queue message types and attributes read by the pump
// (include/uapi/linux/netfilter/nfnetlink_queue.h, linux/netlink.h).
const (
	msgPacket = 0 // NFQNL_MSG_PACKET
	msgConfig = 2 // NFQNL_MSG_CONFIG

	nfqaPacketHdr = 1
	nfqaCTInfo    = 12

	nlmsgHdrLen = 16
	nlmsgNoop   = 1
	nlmsgError  = 2
)

// pump is the queue's receive loop: it reads batches of messages and
// dispatches each, then sends the verdicts it gave itself in one write.
// A packet whose lane is idle runs in the engine on this goroutine
// (runInline); if it gets stuck there, the supervisor answers it and
// starts a new receive loop with the rest of the batch, and this one ends
// when the call returns.
func (q *Queue) pump() { q.receive(nil) }

// receive is the receive loop, starting with the datagrams a deposed loop
// left.
func (q *Queue) receive(left [][]byte) {
	gen := q.pumpGen.Load()
	defer func() {
		if q.pumpGen.Load() == gen {
			close(q.pumped)
		}
	}()
	var scratch []byte
	for i, d := range left {
		q.rest = left[i+1:]
		if !q.datagram(d, &scratch) {
			return
		}
	}
	q.flushOwn()
	b := newBatch()
	for {
		err := q.out.recv(b)
		switch {
		case errors.Is(err, errClosed):
			return
		case errors.Is(err, unix.ENOBUFS):
			// The kernel dropped messages for us: count, keep going.
			q.enobufs.Add(1)
			continue
		case err != nil:
			select {
			case q.errc <- fmt.Errorf("nfqueue %d: receive: %w", q.cfg.Queue, err):
			default:
			}
			return
		}
		for i, d := range b.msgs[:b.n] {
			q.rest = b.msgs[i+1 : b.n]
			if !q.datagram(d, &scratch) {
				return // deposed while a packet ran inline
			}
		}
		q.flushOwn()
	}
}

// datagram dispatches the netlink messages of one datagram. inline, when
// not nil, is the receive loop's verdict buffer: its packets may run
// inline. It returns false when the receive loop was deposed meanwhile
// and must end.
func (q *Queue) datagram(d []byte, inline *[]byte) bool {
	for len(d) >= nlmsgHdrLen {
		n := int(binary.NativeEndian.Uint32(d))
		if n < nlmsgHdrLen || n > len(d) {
			return true
		}
		typ := binary.NativeEndian.Uint16(d[4:])
		body := d[nlmsgHdrLen:n]
		d = d[min((n+3)&^3, len(d)):]
		switch typ {
		case subsysQueue<<8 | msgPacket:
			q.restHead = d
			if !q.packet(body, inline) {
				return false
			}
		case nlmsgError:
			q.kernelError(body)
		}
	}
	return true
}

// kernelError counts the kernel's answer to a verdict it refused (the
// verdicts ask for no acknowledgement, so only failures come back).
func (q *Queue) kernelError(body []byte) {
	if len(body) < 4 {
		return
	}
	if errno := -int32(binary.NativeEndian.Uint32(body)); errno != 0 {
		q.sendErrors.Add(1)
		q.log.Error("the kernel refused a verdict", "queue", q.cfg.Queue, "error", unix.Errno(errno))
	}
}

// queued is what the pump reads from an NFQNL_MSG_PACKET.
type queued struct {
	id             uint32
	hasID, hasInfo bool
	info           uint32
	payload, ct    []byte
}

// parseQueued reads the attributes of an NFQNL_MSG_PACKET (after its
// nfgenmsg) that the pump uses.
func parseQueued(b []byte) (m queued, ok bool) {
	at := attrs{b: b}
	for at.next() {
		switch v := at.v; at.typ {
		case nfqaPacketHdr:
			if len(v) >= 4 {
				m.id, m.hasID = binary.BigEndian.Uint32(v), true
			}
		case nfqaPayload:
			m.payload = v
		case nfqaCT:
			m.ct = v
		case nfqaCTInfo:
			if len(v) >= 4 {
				m.info, m.hasInfo = binary.BigEndian.Uint32(v), true
			}
		}
	}
	return m, at.err == nil
}

// packet takes one queued packet: it answers it at once when there is
// nothing for the engine to do, or hands it to the lane of its
// connection.
func (q *Queue) packet(body []byte, inline *[]byte) bool {
	if len(body) < 4 {
		return true
	}
	m, ok := parseQueued(body[4:])
	if !m.hasID {
		return true
	}
	q.packets.Add(1)
	if !ok || m.payload == nil {
		q.unparsable.Add(1)
		q.acceptNow(m.id)
		return true
	}
	if m.ct == nil || !m.hasInfo {
		// No conntrack: the rule does not reference conntrack, or the
		// kernel lacks the glue. Nothing a helper can do.
		q.noCT.Add(1)
		q.acceptNow(m.id)
		return true
	}
	pkt, err := engine.ParsePacket(m.payload)
	if err != nil {
		q.undecodable(m.id, err)
		return true
	}
	pkt.CTInfo = engine.CTInfo(m.info)
	skip := q.e.Skip(q.cfg.Helper, &pkt)
	if skip && q.lanesIdle() {
		q.acceptEarly(&pkt, m.id)
		return true
	}
	j := q.newJob(&m)
	if err := q.decode(j, &m, &pkt); err != nil {
		q.undecodable(m.id, err)
		q.recycle(j)
		return true
	}
	j.skip = skip
	return q.enqueue(j, inline)
}

// undecodable accepts packet id, which cannot be decoded.
func (q *Queue) undecodable(id uint32, err error) {
	q.unparsable.Add(1)
	q.log.Warn("cannot decode the queued packet, accepting", "queue", q.cfg.Queue, "error", err)
	q.acceptNow(id)
}

// lanesIdle reports whether no lane holds an unanswered packet: every
// packet taken and not yet sent its verdict is answered in the receive
// loop's own verdicts.
func (q *Queue) lanesIdle() bool { return q.pending.Load() == int64(q.rdone) }

// acceptEarly accepts a packet the helper's declaration leaves out
// (Engine.Skip) before its conntrack is decoded, when the lanes are idle
// (so none of its connection's can be overtaken).
func (q *Queue) acceptEarly(pkt *engine.Packet, id uint32) {
	q.inline.Add(1)
	q.rout = appendVerdict(q.rout, q.cfg.Queue, family(pkt), id, engine.Accept)
	q.routEarly = true
	q.verdicts.Add(1)
}

// decode copies the packet, parsed as pkt, and its conntrack into j, and
// decodes the conntrack.
func (q *Queue) decode(j *job, m *queued, pkt *engine.Packet) error {
	n := len(m.payload)
	j.data = append(append(j.data[:0], m.payload...), m.ct...)
	j.pkt = *pkt
	j.pkt.Data = j.data[:n:n]
	return decodeConnInto(&j.conn, &j.seqadj, j.data[n:], q.cfg.Helper)
}

// enqueue hands j to its lane, or answers it at once when the lane is
// full or when the helper would not look at it and its lane has nothing
// unanswered (so its verdict cannot overtake one of its connection's).
func (q *Queue) enqueue(j *job, inline *[]byte) bool {
	q.mu.RLock()
	if q.stop {
		q.mu.RUnlock()
		q.acceptNow(j.id)
		q.recycle(j)
		return true
	}
	q.busy.Add(1)
	q.pending.Add(1)
	q.mu.RUnlock()
	l := q.lanes[q.e.Shard(&j.conn)%len(q.lanes)]
	inl := inline != nil && q.inlineAllowed()
	if inl && l.unanswered.Load() > 0 {
		q.awaitDrain(l)
	}
	if l.unanswered.Load() == 0 {
		if j.skip {
			q.inline.Add(1)
			q.answerOwn(l, j, engine.Accept)
			return true
		}
		if inl {
			return q.runInline(l, j, inline)
		}
	}
	if l.inRout || q.routEarly {
		// An earlier packet of this lane (or one answered before its
		// lane was known: acceptEarly) waits in the receive loop's
		// verdicts: it must leave before the lane answers this one.
		q.flushOwn()
	}
	l.unanswered.Add(1)
	if !q.handOver(l, j) {
		l.unanswered.Add(-1)
		q.overflows.Add(1)
		q.answerOwn(l, j, q.defaultVerdict())
	}
	return true
}

// handOver puts j on lane l. A full lane is waited for while it moves:
// under a flood the kernel's queue holds the excess (and drops it, or
// accepts it with fail-open), instead of packets passing unhelped. A full
// lane whose goroutine stays in one engine call for q.laneWait (two
// budgets: the watchdog stops a Lua call after 1.25, so only a call stuck
// in Go gets there) is stalled: j and the lane's later packets, until
// another call starts, are refused at once, so a slow connection delays
// only its own worker's packets (and the others once, for laneWait).
func (q *Queue) handOver(l *lane, j *job) bool {
	select {
	case l.ch <- j:
		return true
	default:
	}
	call := l.calling.Load()
	if call != 0 && l.stalledAt.Load() == call {
		return false
	}
	for {
		q.timer.Reset(q.laneWait)
		select {
		case l.ch <- j:
			q.timer.Stop()
			return true
		case <-q.timer.C:
		}
		now := l.calling.Load()
		if now != 0 && now == call {
			l.stalledAt.Store(call)
			return false
		}
		call = now
	}
}

func (q *Queue) defaultVerdict() engine.Verdict {
	if h := q.e.Helper(q.cfg.Helper); h != nil {
		return h.Spec.DefaultVerdict
	}
	return engine.Accept
}

// acceptNow accepts a packet that never became a job.
func (q *Queue) acceptNow(id uint32) {
	q.rout = appendVerdict(q.rout, q.cfg.Queue, unix.AF_INET, id, engine.Accept)
	q.verdicts.Add(1)
}

// answerOwn answers job j of lane l from the receive loop, unless it was
// answered.
func (q *Queue) answerOwn(l *lane, j *job, v engine.Verdict) {
	if !claim(j) {
		return
	}
	l.inRout = true
	q.rout = appendVerdict(q.rout, q.cfg.Queue, family(&j.pkt), j.id, v)
	q.verdicts.Add(1)
	q.rdone++
	q.recycle(j)
}

// flushOwn sends the receive loop's verdicts. When no packet is
// unanswered elsewhere (every pending one is answered here), a leading
// run of plain accepts goes as one batch verdict (batchAccepts).
func (q *Queue) flushOwn() {
	if len(q.rout) == 0 {
		return
	}
	if q.lanesIdle() {
		q.rout = batchAccepts(q.rout)
	}
	q.write(q.rout)
	q.rout, q.routEarly = q.rout[:0], false
	for _, l := range q.lanes {
		l.inRout = false
	}
	if q.rdone > 0 {
		q.pending.Add(-int64(q.rdone))
		q.busy.Add(-q.rdone)
		q.rdone = 0
	}
}

// write sends a datagram of verdicts.
func (q *Queue) write(b []byte) {
	if err := q.out.send(b); err != nil {
		q.sendErrors.Add(1)
		q.log.Error("cannot send verdicts", "queue", q.cfg.Queue, "error", err)
	}
}

// newJob returns a free job, or a new one.
func (q *Queue) newJob(m *queued) *job {
	var j *job
	select {
	case j = <-q.free:
	default:
		j = &job{data: make([]byte, 0, max(2048, len(m.payload)+len(m.ct)))}
	}
	j.id, j.answered = m.id, 0
	return j
}

// recycle returns j for reuse. Only a job nobody else can reach may be
// recycled: never one the supervisor took from a stuck lane.
func (q *Queue) recycle(j *job) {
	if cap(j.data) > 16<<10 {
		j.data = make([]byte, 0, 2048)
	}
	select {
	case q.free <- j:
	default:
	}
}
