package replay

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/ctlua/ctlua/engine"
	"github.com/gopacket/gopacket/layers"
)

// EventKind says what an Event reports.
type EventKind uint8

// Event kinds.
const (
	// EventPacket is a packet; Decision is set when the helper saw it.
	EventPacket EventKind = iota
	// EventRelated is a new connection that matched an expectation (Expect).
	EventRelated
	// EventExpect is an expectation a decision created or a script
	// inserted at once (expect.insert, expect.hunt).
	EventExpect
	// EventExpectGone is an expectation that expired, was evicted, or was
	// replaced by an equal one.
	EventExpectGone
	// EventExpectRefused is an expectation of a decision that the table
	// refused (Reason says why), as the kernel would have.
	EventExpectRefused
	// EventClosed is a connection that ended.
	EventClosed
)

// An Event is one thing that happened during a replay.
type Event struct {
	Kind EventKind
	// Index is the packet's number in the capture (from 1).
	Index int
	// Time is the packet's offset from the first packet of the capture,
	// and At its capture timestamp.
	Time time.Duration
	At   time.Time
	Conn *engine.Conn
	// Packet and Helped are set for EventPacket, and Decision when Helped.
	Packet   *engine.Packet
	Helped   bool
	Decision *engine.Decision
	// Expected counts the expectations the packet created (EventPacket):
	// those of its decision and those the script inserted at once. Their
	// EventExpect events follow the packet's.
	Expected int
	Expect   *Expectation
	// Reason says why an expectation is gone ("expired", "evicted",
	// "replaced") or was refused.
	Reason string
}

// Options configure a replay.
type Options struct {
	// Ports replaces the helper's declared ports: connections to these
	// ports get the helper.
	Ports []uint16
	// UDPTimeout ends an idle UDP connection; 0 means 30 seconds.
	UDPTimeout time.Duration
}

// Summary counts what a replay saw.
type Summary struct {
	Packets, Skipped, Helped, Connections, Related, Expectations, Errors int
	// Reassembled counts the datagrams rebuilt from fragments (their
	// fragments count as Skipped); Invalid the packets the kernel's
	// conntrack would refuse (a UDP length field that does not fit).
	Reassembled, Invalid int
}

// A Replayer replays captures through a helper.
type Replayer struct {
	t      *table
	opt    Options
	defrag *defragmenter
}

// New returns a Replayer. Give its Conntrack to the engine so scripts'
// conntrack queries see the simulated table.
func New(opt Options) *Replayer {
	if opt.UDPTimeout <= 0 {
		opt.UDPTimeout = 30 * time.Second
	}
	return &Replayer{t: newTable(), opt: opt, defrag: newDefragmenter()}
}

// Conntrack returns the simulated conntrack.
func (r *Replayer) Conntrack() engine.Conntrack { return r.t }

// Expecter returns the simulated conntrack's expectation table, for
// engine.Config.Expecter: expect.insert and expect.hunt insert there.
func (r *Replayer) Expecter() engine.Expecter { return r.t }

// A Binding attaches a loaded helper to the new connections to its
// ports, as a daemon configuration's [[helper]] section and its rules do.
type Binding struct {
	Helper string
	// Ports replaces the helper's declared ports when not nil.
	Ports []uint16
}

// Run replays the capture read from in through helper, calling sink for
// every event. A Replayer runs one capture; make a new one for the next.
func (r *Replayer) Run(ctx context.Context, e *engine.Engine, helper string, in io.Reader, sink func(Event)) (Summary, error) {
	return r.RunAll(ctx, e, []Binding{{Helper: helper, Ports: r.opt.Ports}}, in, sink)
}

// RunAll replays the capture read from in through several helpers, each
// attached to the connections to its ports (the first that serves a
// connection gets it), calling sink for every event.
func (r *Replayer) RunAll(ctx context.Context, e *engine.Engine, bindings []Binding, in io.Reader, sink func(Event)) (Summary, error) {
	var sum Summary
	bs := make([]Binding, len(bindings))
	for i, b := range bindings {
		h := e.Helper(b.Helper)
		if h == nil {
			return sum, fmt.Errorf("replay: helper %q: %w", b.Helper, engine.ErrNotFound)
		}
		bs[i] = b
		if b.Ports == nil {
			bs[i].Ports = h.Spec.Ports
		}
	}
	cr, err := openCapture(in)
	if err != nil {
		return sum, fmt.Errorf("replay: %w", err)
	}
	var start time.Time
	for i := 1; ; i++ {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		data, ts, lt, err := cr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return sum, fmt.Errorf("replay: packet %d: %w", i, err)
		}
		sum.Packets++
		if start.IsZero() {
			start = ts
		}
		pkt, ok := r.packet(data, lt, ts, &sum)
		if !ok {
			continue
		}
		ev := Event{Index: i, Time: ts.Sub(start), At: ts}
		r.step(e, bs, &pkt, ts, ev, &sum, sink)
	}
	return sum, nil
}

// packet turns a captured frame into the packet conntrack would see:
// reassembled from its fragments and checked like the kernel does.
func (r *Replayer) packet(data []byte, lt layers.LinkType, ts time.Time, sum *Summary) (engine.Packet, bool) {
	ip, err := ipPayload(data, lt)
	if err != nil {
		sum.Skipped++
		return engine.Packet{}, false
	}
	whole, reassembled := r.defrag.add(ip, ts)
	if whole == nil {
		sum.Skipped++
		return engine.Packet{}, false
	}
	if reassembled {
		sum.Reassembled++
	}
	pkt, err := engine.ParsePacket(whole)
	if err != nil || (pkt.Proto != engine.ProtoTCP && pkt.Proto != engine.ProtoUDP) {
		sum.Skipped++
		return engine.Packet{}, false
	}
	if !validLengths(&pkt) {
		sum.Invalid++
		return engine.Packet{}, false
	}
	return pkt, true
}

// validLengths checks the UDP length field like the kernel's conntrack
// (udp_error): at least the header, at most what the IP packet holds.
// The IP lengths were checked by engine.ParsePacket.
func validLengths(p *engine.Packet) bool {
	if p.Proto != engine.ProtoUDP {
		return true
	}
	ulen := int(binary.BigEndian.Uint16(p.Data[p.L4Off+4:]))
	return ulen >= 8 && ulen <= len(p.Data)-p.L4Off
}

// step runs one packet through the simulated conntrack and the helper.
func (r *Replayer) step(e *engine.Engine, bs []Binding, pkt *engine.Packet, ts time.Time, ev Event, sum *Summary, sink func(Event)) {
	r.t.expire(ts, func(x *Expectation) {
		sink(Event{Kind: EventExpectGone, Index: ev.Index, Time: ev.Time, Expect: x, Reason: "expired"})
	})
	c, first := r.connFor(e, bs, pkt, ts, ev, sum, sink)
	c.lastSeen = ts
	dir := engine.Original
	if pkt.Tuple() != c.c.Orig {
		dir = engine.Reply
	}
	classify(c, pkt, dir)
	ev.Kind, ev.Conn, ev.Packet, ev.Helped = EventPacket, &c.c, pkt, c.helped
	if c.helped {
		r.handle(e, c, pkt, ts, ev, sum, sink)
	} else {
		sink(ev)
	}
	if first {
		c.c.Status |= engine.StatusConfirmed
	}
	if pkt.Proto == engine.ProtoTCP {
		r.endTCP(e, c, pkt, dir, ev, sink)
	}
}

// connFor returns the connection of pkt, and whether pkt created it: a
// tuple reused by a new TCP connection or a UDP flow idle past its
// timeout starts a new one. A new connection is related to the
// expectation it matches, or attached to the helper of its port.
func (r *Replayer) connFor(e *engine.Engine, bs []Binding, pkt *engine.Packet, ts time.Time, ev Event, sum *Summary, sink func(Event)) (*conn, bool) {
	t := r.t
	tu := pkt.Tuple()
	c := t.conns[tu]
	if c != nil && c.c.Orig == tu && isSYN(pkt) && (c.closed || c.fin[0] || c.fin[1]) {
		r.close(e, c, ev, sink) // the tuple is reused by a new connection
		c = nil
	}
	if c != nil && pkt.Proto == engine.ProtoUDP && ts.Sub(c.lastSeen) > r.opt.UDPTimeout {
		r.close(e, c, ev, sink)
		c = nil
	}
	if c != nil {
		return c, false
	}
	c = t.add(tu)
	sum.Connections++
	if x := t.match(tu); x != nil {
		c.c.Status |= engine.StatusExpected
		m := x.Master
		c.c.Master = &m
		if x.Helper != "" {
			c.c.Helper = x.Helper
			c.helped = bound(bs, x.Helper)
		}
		sum.Related++
		sink(Event{Kind: EventRelated, Index: ev.Index, Time: ev.Time, At: ev.At, Conn: &c.c, Expect: x})
	} else if name := attach(e, bs, pkt); name != "" {
		c.helped = true
		c.c.Helper = name
	}
	return c, true
}

// classify sets pkt's ctinfo from its connection's status, as conntrack
// does, and updates the status with pkt (seen reply, assured, helper).
func classify(c *conn, pkt *engine.Packet, dir engine.Direction) {
	switch {
	case dir == engine.Reply:
		pkt.CTInfo = engine.CTEstablishedReply
	case c.c.Status&engine.StatusSeenReply != 0:
		pkt.CTInfo = engine.CTEstablished
	case c.c.Status&engine.StatusExpected != 0:
		pkt.CTInfo = engine.CTRelated
	default:
		pkt.CTInfo = engine.CTNew
	}
	if dir == engine.Reply {
		c.c.Status |= engine.StatusSeenReply
	} else if c.c.Status&engine.StatusSeenReply != 0 &&
		(pkt.Proto == engine.ProtoUDP || pkt.TCPFlags&(engine.TCPSyn|engine.TCPAck) == engine.TCPAck) {
		c.c.Status |= engine.StatusAssured
	}
	if c.helped {
		c.c.Status |= engine.StatusHelper
	}
}

// endTCP follows a TCP connection's end: a RST closes it, FINs in both
// directions make it closed (kept for the last ACK; a new SYN replaces it).
func (r *Replayer) endTCP(e *engine.Engine, c *conn, pkt *engine.Packet, dir engine.Direction, ev Event, sink func(Event)) {
	if pkt.TCPFlags&engine.TCPRst != 0 {
		r.close(e, c, ev, sink)
		return
	}
	if pkt.TCPFlags&engine.TCPFin != 0 {
		c.fin[dir] = true
	}
	if c.fin[0] && c.fin[1] && !c.closed {
		c.closed = true
		e.Forget(c.c.Key())
		sink(Event{Kind: EventClosed, Index: ev.Index, Time: ev.Time, Conn: &c.c})
	}
}

// handle runs a packet of a helped connection through its helper, applies
// the decision's conntrack updates and expectations to the simulated
// table, and reports the packet and what it created.
func (r *Replayer) handle(e *engine.Engine, c *conn, pkt *engine.Packet, ts time.Time, ev Event, sum *Summary, sink func(Event)) {
	t := r.t
	sum.Helped++
	h := e.Helper(c.c.Helper)
	t.now, t.spec, t.pending = ts, &h.Spec, t.pending[:0]
	d := e.Handle(c.c.Helper, pkt, &c.c)
	ev.Decision = &d
	if d.Err != nil {
		sum.Errors++
	}
	u := &d.Update
	if u.PrivateSet {
		c.c.Private = u.Private
	}
	if u.MarkSet {
		c.c.Mark = u.Mark
	}
	if u.TimeoutSet {
		c.c.Timeout = u.Timeout
	}
	if u.LabelsSet {
		c.c.Labels = u.Labels
	}
	for _, x := range d.Expectations {
		if err := t.related(&c.c, x); err != nil {
			t.pending = append(t.pending, Event{Kind: EventExpectRefused, Conn: &c.c,
				Expect: &Expectation{Expectation: x, Master: c.c.Orig, MasterHelper: c.c.Helper}, Reason: err.Error()})
		}
	}
	for _, pe := range t.pending {
		if pe.Kind == EventExpect {
			ev.Expected++
		}
	}
	sum.Expectations += ev.Expected
	sink(ev)
	for _, pe := range t.pending {
		pe.Index, pe.Time, pe.At = ev.Index, ev.Time, ev.At
		sink(pe)
	}
}

func (r *Replayer) close(e *engine.Engine, c *conn, ev Event, sink func(Event)) {
	r.t.remove(c)
	e.Forget(c.c.Key())
	if !c.closed {
		c.closed = true
		sink(Event{Kind: EventClosed, Index: ev.Index, Time: ev.Time, Conn: &c.c})
	}
}

func isSYN(p *engine.Packet) bool {
	return p.Proto == engine.ProtoTCP && p.TCPFlags&(engine.TCPSyn|engine.TCPAck) == engine.TCPSyn
}

// attach picks the binding whose helper serves a new connection's first
// packet, or returns "".
func attach(e *engine.Engine, bs []Binding, pkt *engine.Packet) string {
	for _, b := range bs {
		if h := e.Helper(b.Helper); h != nil && h.Spec.Serves(pkt.IsIPv6(), pkt.Proto) && slices.Contains(b.Ports, pkt.DstPort) {
			return b.Helper
		}
	}
	return ""
}

func bound(bs []Binding, helper string) bool {
	return slices.ContainsFunc(bs, func(b Binding) bool { return b.Helper == helper })
}
