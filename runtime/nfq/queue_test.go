package nfq

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/engine/enginetest"
	"github.com/mdlayher/netlink"
	lua "github.com/yuin/gopher-lua"
)

// fakeLink records the verdicts a queue sends, by packet id, and hands
// it the datagrams put on in. Like the kernel, it keeps the packets it
// handed over until their verdict: a batch verdict answers those up to
// its id, and a verdict for a packet it does not hold is recorded in
// unknown (the kernel's ENOENT).
type fakeLink struct {
	in       chan []byte
	mu       sync.Mutex
	verdicts map[uint32][]engine.Verdict
	order    []uint32 // packet ids in the order of their verdicts
	queued   []uint32 // packets handed over and not answered, in order
	unknown  []uint32
	batches  int
	sends    int
	once     sync.Once
	// slow, if set, is how long each send takes: the kernel's work on a
	// write of verdicts (reinjecting the packets) happens in the writing
	// goroutine.
	slow time.Duration
}

func newFakeLink() *fakeLink {
	return &fakeLink{in: make(chan []byte, 1024), verdicts: map[uint32][]engine.Verdict{}}
}

func (f *fakeLink) recv(b *batch) error {
	d, ok := <-f.in
	if !ok {
		return errClosed
	}
	b.n = 0
	for {
		b.msgs[b.n] = append(b.bufs[b.n][:0], d...)
		b.n++
		f.hold(d)
		if b.n == batchLen {
			return nil
		}
		select {
		case d, ok = <-f.in:
			if !ok {
				return nil
			}
		default:
			return nil
		}
	}
}

func (f *fakeLink) send(b []byte) error {
	if f.slow > 0 {
		time.Sleep(f.slow)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sends++
	for len(b) >= nlmsgHdrLen {
		n := int(binary.NativeEndian.Uint32(b))
		ad, err := netlink.NewAttributeDecoder(b[nlmsgHdrLen+4 : n])
		if err != nil {
			return err
		}
		batch := binary.NativeEndian.Uint16(b[4:]) == subsysQueue<<8|msgVerdictBatch
		for ad.Next() {
			if ad.Type() == nfqaVerdictHdr {
				v := ad.Bytes()
				f.answer(binary.BigEndian.Uint32(v[4:]), engine.Verdict(binary.BigEndian.Uint32(v)), batch)
			}
		}
		b = b[(n+3)&^3:]
	}
	return nil
}

// hold records the packets of datagram d as handed over.
func (f *fakeLink) hold(d []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(d) >= nlmsgHdrLen {
		n := int(binary.NativeEndian.Uint32(d))
		if n < nlmsgHdrLen+4 || n > len(d) {
			return
		}
		if binary.NativeEndian.Uint16(d[4:]) == subsysQueue<<8|msgPacket {
			if m, _ := parseQueued(d[nlmsgHdrLen+4 : n]); m.hasID {
				f.queued = append(f.queued, m.id)
			}
		}
		d = d[min((n+3)&^3, len(d)):]
	}
}

// answer applies a verdict for packet id, or with batch for every held
// packet up to id, as nfqnl_recv_verdict(_batch) do; f.mu is held.
func (f *fakeLink) answer(id uint32, v engine.Verdict, batch bool) {
	if batch {
		f.batches++
		n := 0
		for n < len(f.queued) && int32(id-f.queued[n]) >= 0 {
			n++
		}
		for _, q := range f.queued[:n] {
			f.verdicts[q] = append(f.verdicts[q], v)
			f.order = append(f.order, q)
		}
		f.queued = f.queued[n:]
		return
	}
	f.verdicts[id] = append(f.verdicts[id], v)
	f.order = append(f.order, id)
	if i := slices.Index(f.queued, id); i >= 0 {
		f.queued = slices.Delete(f.queued, i, i+1)
	} else {
		f.unknown = append(f.unknown, id)
	}
}

func (f *fakeLink) close() error {
	f.once.Do(func() { close(f.in) })
	return nil
}

func (f *fakeLink) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.verdicts)
}

// feed dispatches one datagram the way the pump does.
func feed(q *Queue, d []byte) {
	q.datagram(d, nil)
	q.flushOwn()
}

// blockOnce's block() waits in Go, the first time, until release closes.
type blockOnce struct {
	release chan struct{}
	calls   *atomic.Int32
}

func (blockOnce) Name() string { return "block" }
func (b blockOnce) Open(L *lua.LState, _ *engine.Session) lua.LValue {
	return L.NewFunction(func(L *lua.LState) int {
		if b.calls.Add(1) == 1 {
			<-b.release
		}
		return 0
	})
}

// queuedPacket returns the NFQNL_MSG_PACKET of a queued TCP packet of
// connection id carrying payload, as the kernel sends it.
func queuedPacket(t testing.TB, pktID, connID uint32, payload string) []byte {
	return packetMsg(t, "h", pktID, connID, payload)
}

// packetMsg is queuedPacket for a connection of the named helper.
func packetMsg(t testing.TB, helper string, pktID, connID uint32, payload string) []byte {
	orig := engine.Tuple{Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("192.0.2.2"),
		Proto: engine.ProtoTCP, SrcPort: uint16(40000 + connID), DstPort: 21}
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	ae.Nested(ctaTupleOrig, func(ae *netlink.AttributeEncoder) error { encodeTuple(ae, orig, 6); return nil })
	ae.Nested(ctaTupleReply, func(ae *netlink.AttributeEncoder) error { encodeTuple(ae, orig.Reverse(), 6); return nil })
	ae.Uint32(ctaStatus, uint32(engine.StatusConfirmed|engine.StatusSeenReply))
	ae.Nested(ctaHelp, func(ae *netlink.AttributeEncoder) error { ae.String(ctaHelpName, helper); return nil })
	ae.Uint32(ctaID, connID)
	ct, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	pkt := enginetest.Segment{Src: "192.0.2.1", Dst: "192.0.2.2", SrcPort: orig.SrcPort, DstPort: 21,
		Seq: 1, Payload: payload}.Packet(engine.CTEstablished).Data
	ae = netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	ae.Bytes(nfqaPacketHdr, binary.BigEndian.AppendUint32(nil, pktID)[:4:4])
	ae.Bytes(nfqaPayload, pkt)
	ae.Bytes(nfqaCT, ct)
	ae.Uint32(nfqaCTInfo, uint32(engine.CTEstablished))
	attrs, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return appendMessage(nil, netlink.Message{Header: netlink.Header{Type: subsysQueue<<8 | msgPacket},
		Data: append(nfgenmsg(2, 0), attrs...)})
}

// TestStuckPacketDoesNotBlockTheQueue: a packet whose call never returns
// gets the default verdict after StuckAfter, packets behind it keep
// flowing, packets arriving at a full lane are answered at once, and
// every packet gets exactly one verdict.
func TestStuckPacketDoesNotBlockTheQueue(t *testing.T) {
	b := blockOnce{release: make(chan struct{}), calls: new(atomic.Int32)}
	e, err := engine.New(engine.Config{Workers: 1, Budget: 5 * time.Millisecond, StuckAfter: 30 * time.Millisecond,
		Modules: []engine.Module{b}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	src := `local block = require("block")
return {name = "h", l4 = "tcp", default_verdict = "drop", policies = {{name = "d", max_expected = 1, timeout = 1}},
  on_packet = function() block() end}`
	if _, err := e.Load("h.lua", []byte(src), nil); err != nil {
		t.Fatal(err)
	}
	out := newFakeLink()
	q := newQueue(e, Config{Helper: "h", LaneLen: 4, StuckAfter: 50 * time.Millisecond}, out)
	q.startLanes()
	const n = 20
	for id := uint32(1); id <= n; id++ {
		feed(q, queuedPacket(t, id, id, "NOOP\r\n"))
	}
	deadline := time.Now().Add(5 * time.Second)
	for out.count() < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	close(b.release)
	q.drain()
	q.stopLanes()
	time.Sleep(20 * time.Millisecond) // let the released goroutine try to answer again
	out.mu.Lock()
	defer out.mu.Unlock()
	for id := uint32(1); id <= n; id++ {
		if v := out.verdicts[id]; len(v) != 1 {
			t.Errorf("packet %d: verdicts %v, want exactly one", id, v)
		}
	}
	if v := out.verdicts[1]; len(v) == 0 || v[0] != engine.Drop {
		t.Errorf("stuck packet: %v, want the default verdict", v)
	}
	st := q.Stats()
	if st.Abandoned != 1 || st.Overflows == 0 {
		t.Errorf("stats %+v: want one abandoned packet and overflows", st)
	}
}

// FuzzDecodeConn: any NFQA_CT content decodes or fails, never panics.
func FuzzDecodeConn(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{8, 0, 12, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, _, err := decodeConn(2, b)
		if (c == nil) == (err == nil) {
			t.Fatalf("conn %v, err %v", c, err)
		}
	})
}

// TestStopHasADeadline: Stop's wait for a packet stuck in the engine ends
// after StopTimeout.
func TestStopHasADeadline(t *testing.T) {
	b := blockOnce{release: make(chan struct{}), calls: new(atomic.Int32)}
	defer close(b.release)
	e, err := engine.New(engine.Config{Workers: 1, Budget: 5 * time.Millisecond, StuckAfter: time.Hour,
		Modules: []engine.Module{b}})
	if err != nil {
		t.Fatal(err)
	}
	src := `local block = require("block")
return {name = "h", l4 = "tcp", policies = {{name = "d", max_expected = 1, timeout = 1}},
  on_packet = function() block() end}`
	if _, err := e.Load("h.lua", []byte(src), nil); err != nil {
		t.Fatal(err)
	}
	out := newFakeLink()
	q := newQueue(e, Config{Helper: "h", StuckAfter: time.Hour, StopTimeout: 50 * time.Millisecond}, out)
	q.startLanes()
	feed(q, queuedPacket(t, 1, 1, "NOOP\r\n"))
	done := make(chan struct{})
	go func() {
		q.drain()
		q.stopLanes()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop waited for the stuck packet past its deadline")
	}
}

// TestPumpKeepsConnectionOrder: through the whole pump (batches, lanes,
// verdicts gathered per lane, empty segments answered by the receive
// loop), every packet gets exactly one verdict and each connection's
// verdicts leave in the order its packets came.
func TestPumpKeepsConnectionOrder(t *testing.T) {
	for _, c := range []struct {
		name    string
		workers int
		slow    time.Duration
		flip    bool
	}{
		{"1 worker", 1, 0, false},
		{"2 workers", 2, 0, false},
		// Slow writes keep a lane's verdicts in flight while the receive
		// loop goes on, and inline runs turned off and on again move
		// connections between the loop and the lanes both ways.
		{"2 workers, slow writes, inline flipping", 2, 100 * time.Microsecond, true},
		{"1 worker, slow writes, inline flipping", 1, 100 * time.Microsecond, true},
	} {
		t.Run(c.name, func(t *testing.T) { testConnectionOrder(t, c.workers, c.slow, c.flip) })
	}
}

func testConnectionOrder(t *testing.T, workers int, slow time.Duration, flip bool) {
	e, err := engine.New(engine.Config{Workers: workers})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	src := `return {name = "h", l4 = "tcp", payload_only = true, policies = {{name = "d", max_expected = 1, timeout = 1}},
  on_packet = function() end}`
	if _, err := e.Load("h.lua", []byte(src), nil); err != nil {
		t.Fatal(err)
	}
	out := newFakeLink()
	out.slow = slow
	q := newQueue(e, Config{Helper: "h", LaneLen: 1024}, out)
	q.inlineOff.Store(100) // the first packets through the lanes, then inline runs
	q.startLanes()
	go q.pump()
	const n, conns = 600, 5
	connOf := map[uint32]uint32{}
	for id := uint32(1); id <= n; id++ {
		c := id%conns + 1
		connOf[id] = c
		payload := "DATA\r\n"
		if id%3 == 0 {
			payload = ""
		}
		if flip && id%50 == 0 {
			q.inlineOff.Store(7)
		}
		out.in <- packetMsg(t, "h", id, c, payload)
	}
	deadline := time.Now().Add(10 * time.Second)
	for out.count() < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	q.Stop()
	out.mu.Lock()
	last := map[uint32]uint32{}
	for _, id := range out.order {
		if c := connOf[id]; id < last[c] {
			t.Errorf("conn %d: verdict for %d after %d", c, id, last[c])
		} else {
			last[c] = id
		}
	}
	for id := uint32(1); id <= n; id++ {
		if v := out.verdicts[id]; len(v) != 1 || v[0] != engine.Accept {
			t.Errorf("packet %d: verdicts %v, want one accept", id, v)
		}
	}
	if len(out.unknown) > 0 || len(out.queued) > 0 {
		t.Errorf("verdicts for packets the kernel no longer held: %v; held and never answered: %v", out.unknown, out.queued)
	}
	sends, batches := out.sends, out.batches
	out.mu.Unlock()
	if st := q.Stats(); st.Packets != n || st.Verdicts != n || st.Overflows != 0 || st.InlineRuns == 0 {
		t.Errorf("stats %+v", st)
	}
	t.Logf("%d verdicts in %d writes (%d batch verdicts), %d answered inline, %d run inline", n, sends, batches, q.Stats().Inline, q.Stats().InlineRuns)
}

// TestFloodWaitsForAMovingLane: packets arriving faster than their lane
// drains are not answered without the helper while the lane moves: the
// receive loop waits (and the kernel's queue holds the rest).
func TestFloodWaitsForAMovingLane(t *testing.T) {
	e, err := engine.New(engine.Config{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	src := `return {name = "h", l4 = "tcp", policies = {{name = "d", max_expected = 1, timeout = 1}},
  on_packet = function() for i = 1, 1000 do end end}`
	if _, err := e.Load("h.lua", []byte(src), nil); err != nil {
		t.Fatal(err)
	}
	out := newFakeLink()
	q := newQueue(e, Config{Helper: "h", LaneLen: 1}, out)
	q.laneWait = 10 * time.Second // a moving lane is never taken for a stalled one here
	q.inlineOff.Store(1 << 40)    // every packet through the lane
	q.startLanes()
	go q.pump()
	const n = 200
	for id := uint32(1); id <= n; id++ {
		out.in <- packetMsg(t, "h", id, 1, "DATA\r\n")
	}
	deadline := time.Now().Add(10 * time.Second)
	for out.count() < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	q.Stop()
	if st := q.Stats(); st.Overflows != 0 || st.Verdicts != n {
		t.Errorf("stats %+v: want %d verdicts, none by overflow", st, n)
	}
}

// TestStuckInlineCallGetsAFreshReceiveLoop: a packet whose lane is idle
// runs on the receive loop; when its call never returns, the supervisor
// answers it with the default verdict and a fresh receive loop serves
// the rest of its batch and the next packets.
func TestStuckInlineCallGetsAFreshReceiveLoop(t *testing.T) {
	b := blockOnce{release: make(chan struct{}), calls: new(atomic.Int32)}
	e, err := engine.New(engine.Config{Workers: 1, Budget: 5 * time.Millisecond, StuckAfter: 30 * time.Millisecond,
		Modules: []engine.Module{b}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	src := `local block = require("block")
return {name = "h", l4 = "tcp", default_verdict = "drop", policies = {{name = "d", max_expected = 1, timeout = 1}},
  on_packet = function() block() end}`
	if _, err := e.Load("h.lua", []byte(src), nil); err != nil {
		t.Fatal(err)
	}
	out := newFakeLink()
	q := newQueue(e, Config{Helper: "h", StuckAfter: 50 * time.Millisecond}, out)
	q.startLanes()
	go q.pump()
	for id := uint32(1); id <= 3; id++ { // one batch: 1 gets stuck, 2 and 3 wait behind it
		out.in <- packetMsg(t, "h", id, id, "DATA\r\n")
	}
	deadline := time.Now().Add(5 * time.Second)
	for out.count() < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	for id := uint32(4); id <= 5; id++ {
		out.in <- packetMsg(t, "h", id, id, "DATA\r\n")
		for out.count() < int(id) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	close(b.release)
	time.Sleep(20 * time.Millisecond) // let the released loop try to answer again
	q.Stop()
	out.mu.Lock()
	defer out.mu.Unlock()
	if v := out.verdicts[1]; len(v) != 1 || v[0] != engine.Drop {
		t.Errorf("stuck packet: verdicts %v, want one default verdict", v)
	}
	for id := uint32(2); id <= 5; id++ {
		if v := out.verdicts[id]; len(v) != 1 || v[0] != engine.Accept {
			t.Errorf("packet %d: verdicts %v, want one accept", id, v)
		}
	}
	if st := q.Stats(); st.Abandoned != 1 || st.InlineRuns == 0 {
		t.Errorf("stats %+v: want one abandoned packet, and inline runs", st)
	}
}

// FuzzParseQueued: any NFQNL_MSG_PACKET body parses, and a packet with a
// payload and a conntrack decodes into a job or fails, never panics.
func FuzzParseQueued(f *testing.F) {
	f.Add(queuedPacket(f, 1, 1, "NOOP\r\n")[nlmsgHdrLen+4:])
	f.Add([]byte{8, 0, 1, 0, 0, 0, 0, 1})
	q := &Queue{cfg: Config{Helper: "h"}}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, ok := parseQueued(b)
		if !ok || m.payload == nil || m.ct == nil {
			return
		}
		pkt, err := engine.ParsePacket(m.payload)
		if err != nil {
			return
		}
		j := &job{}
		_ = q.decode(j, &m, &pkt)
	})
}
