package nfq

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/engine/enginetest"
	nfqueue "github.com/florianl/go-nfqueue/v2"
	"github.com/mdlayher/netlink"
	lua "github.com/yuin/gopher-lua"
)

// fakeSocket records the verdicts a queue sends, by packet id.
type fakeSocket struct {
	mu       sync.Mutex
	verdicts map[uint32][]engine.Verdict
}

func (f *fakeSocket) Send(m netlink.Message) (netlink.Message, error) {
	ad, err := netlink.NewAttributeDecoder(m.Data[4:])
	if err != nil {
		return m, err
	}
	for ad.Next() {
		if ad.Type() == nfqaVerdictHdr {
			b := ad.Bytes()
			f.mu.Lock()
			id := binary.BigEndian.Uint32(b[4:])
			f.verdicts[id] = append(f.verdicts[id], engine.Verdict(binary.BigEndian.Uint32(b)))
			f.mu.Unlock()
		}
	}
	return m, nil
}

func (f *fakeSocket) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.verdicts)
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

// queuedPacket returns the attributes of a queued TCP packet of
// connection id, as go-nfqueue hands them to the hook.
func queuedPacket(t *testing.T, pktID, connID uint32) nfqueue.Attribute {
	orig := engine.Tuple{Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("192.0.2.2"),
		Proto: engine.ProtoTCP, SrcPort: uint16(40000 + connID), DstPort: 21}
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	ae.Nested(ctaTupleOrig, func(ae *netlink.AttributeEncoder) error { encodeTuple(ae, orig, 6); return nil })
	ae.Nested(ctaTupleReply, func(ae *netlink.AttributeEncoder) error { encodeTuple(ae, orig.Reverse(), 6); return nil })
	ae.Uint32(12, connID) // CTA_ID
	ct, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	payload := enginetest.Segment{Src: "192.0.2.1", Dst: "192.0.2.2", SrcPort: orig.SrcPort, DstPort: 21,
		Seq: 1, Payload: "NOOP\r\n"}.Packet(engine.CTEstablished).Data
	info := uint32(engine.CTEstablished)
	return nfqueue.Attribute{PacketID: &pktID, Payload: &payload, Ct: &ct, CtInfo: &info}
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
	out := &fakeSocket{verdicts: map[uint32][]engine.Verdict{}}
	q := newQueue(e, Config{Helper: "h", LaneLen: 4, StuckAfter: 50 * time.Millisecond}, out)
	q.startLanes()
	const n = 20
	for id := uint32(1); id <= n; id++ {
		q.hook(queuedPacket(t, id, id))
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
	out := &fakeSocket{verdicts: map[uint32][]engine.Verdict{}}
	q := newQueue(e, Config{Helper: "h", StuckAfter: time.Hour, StopTimeout: 50 * time.Millisecond}, out)
	q.startLanes()
	q.hook(queuedPacket(t, 1, 1))
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
