package hasync

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/runtime/nfq"
	"golang.org/x/sys/unix"
)

// fakeKernel records what a node applies; the first missing calls fail
// with ENOENT, as ctnetlink does before conntrackd created the master.
type fakeKernel struct {
	mu      sync.Mutex
	missing int
	expects []engine.Expectation
	adj     map[engine.Direction]nfq.SeqAdjust
	adjLog  []nfq.SeqAdjust
	// stale holds a tuple another master's expectation holds.
	stale     *engine.Tuple
	removed   int
	unexpects []engine.Tuple
}

func (k *fakeKernel) Expectations(*engine.Conn) ([]engine.Expectation, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]engine.Expectation(nil), k.expects...), nil
}

func (k *fakeKernel) gone() bool {
	if k.missing > 0 {
		k.missing--
		return true
	}
	return false
}

func (k *fakeKernel) Expect(master *engine.Conn, e *engine.Expectation) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.gone() {
		return fmt.Errorf("ctnetlink: create expectation: %w", unix.ENOENT)
	}
	if k.stale != nil && *k.stale == e.Tuple {
		return fmt.Errorf("%w: ctnetlink: create expectation: %w", engine.ErrExpectClash, unix.EEXIST)
	}
	k.expects = append(k.expects, *e)
	return nil
}

func (k *fakeKernel) Unexpect(_ *engine.Conn, e *engine.Expectation) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.stale != nil && *k.stale == e.Tuple {
		k.stale = nil
		k.removed++
	}
	k.unexpects = append(k.unexpects, e.Tuple)
	return nil
}

func (k *fakeKernel) SetSeqAdjust(c *engine.Conn, dir engine.Direction, s nfq.SeqAdjust) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.gone() {
		return fmt.Errorf("ctnetlink: set sequence adjustment: %w", unix.ENOENT)
	}
	if k.adj == nil {
		k.adj = map[engine.Direction]nfq.SeqAdjust{}
	}
	k.adj[dir] = s
	if dir == engine.Original {
		k.adjLog = append(k.adjLog, s)
	}
	return nil
}

func (k *fakeKernel) snapshot() (int, nfq.SeqAdjust, int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.expects), k.adj[engine.Original], len(k.adjLog)
}

func freePort(t *testing.T, addr string) netip.AddrPort {
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr+":0")))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// pair starts two nodes on loopback; b applies to k.
func pair(t *testing.T, k *fakeKernel) (a, b *Node) {
	pa, pb := freePort(t, "127.0.0.1"), freePort(t, "127.0.0.1")
	var err error
	if a, err = Listen(Config{Listen: pa, Peer: pb, Kernel: &fakeKernel{}, RetryEvery: 10 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if b, err = Listen(Config{Listen: pb, Peer: pa, Kernel: k, RetryEvery: 10 * time.Millisecond, Retry: time.Second}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go a.Run(ctx)
	go b.Run(ctx)
	return a, b
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestNodeSyncs(t *testing.T) {
	tests := []struct {
		name    string
		missing int // ENOENT answers before the master appears
	}{
		{"master there", 0},
		{"master comes later", 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := &fakeKernel{missing: tc.missing}
			a, b := pair(t, k)
			c := &engine.Conn{ID: 7, Orig: master}
			adj1 := [2]nfq.SeqAdjust{{Pos: 100, After: 5}}
			adj2 := [2]nfq.SeqAdjust{{Pos: 200, Before: 5, After: 10}}
			a.Observe(c, adj1, &engine.Decision{Expectations: []engine.Expectation{natExpect}})
			a.Observe(c, adj1, &engine.Decision{}) // unchanged: not sent again
			a.Observe(c, adj2, &engine.Decision{})
			eventually(t, "the expectation and both adjustments", func() bool {
				n, _, _ := k.snapshot()
				return n == 1 && b.Stats().Received == 3
			})
			if got := k.expects[0]; got.NAT == nil || *got.NAT != *natExpect.NAT || got.Class != 1 {
				t.Errorf("expectation lost its NAT or class: %+v", got)
			}
			if _, _, n := k.snapshot(); n != 0 {
				t.Fatalf("an adjustment was set before the connection's first packet on the peer")
			}
			// The failover: the connection's first packet on b, with
			// the stale adjustment its copy has there.
			bc := &engine.Conn{ID: 99, Orig: master}
			b.Observe(bc, [2]nfq.SeqAdjust{}, &engine.Decision{})
			b.Observe(bc, adj2, &engine.Decision{}) // the kernel has it now: nothing to send back
			if _, adj, n := k.snapshot(); n != 1 || adj != adj2[0] {
				t.Errorf("took over %d adjustments, last %+v; want 1, %+v", n, adj, adj2[0])
			}
			if s := a.Stats(); s.Sent != 3 {
				t.Errorf("a sent %d messages, want 3", s.Sent)
			}
			if s := b.Stats(); s.Applied != 3 || s.TakenOver != 1 || s.Sent != 0 || (tc.missing > 0) != (s.Retried > 0) {
				t.Errorf("peer stats %+v", s)
			}
		})
	}
}

func TestNodeExpecterSendsInserted(t *testing.T) {
	k := &fakeKernel{}
	a, _ := pair(t, k)
	inner := &fakeKernel{missing: 1}
	x := a.Expecter(inner)
	c := &engine.Conn{Orig: master}
	if err := x.Expect(c, &natExpect); err == nil {
		t.Fatal("a refused expectation went through")
	}
	if err := x.Expect(c, &natExpect); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the inserted expectation", func() bool { n, _, _ := k.snapshot(); return n == 1 })
	time.Sleep(50 * time.Millisecond)
	if n, _, _ := k.snapshot(); n != 1 {
		t.Errorf("peer got %d expectations, want 1 (only the one the kernel took)", n)
	}
}

func TestNodeSyncsRemovals(t *testing.T) {
	k := &fakeKernel{}
	a, _ := pair(t, k)
	inner := &fakeKernel{}
	x, ok := a.Expecter(inner).(engine.ExpectRemover)
	if !ok {
		t.Fatal("the wrapper of an ExpectRemover cannot remove: expect.remove would fail in HA mode")
	}
	c := &engine.Conn{Orig: master}
	if err := x.Expect(c, &natExpect); err != nil {
		t.Fatal(err)
	}
	if got, _ := x.Expectations(c); len(got) != 1 {
		t.Fatalf("listed %d expectations, want 1", len(got))
	}
	if err := x.Unexpect(c, &natExpect); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the removal on the peer", func() bool {
		k.mu.Lock()
		defer k.mu.Unlock()
		return len(k.expects) == 1 && len(k.unexpects) == 1 && k.unexpects[0] == natExpect.Tuple
	})
	if _, ok := a.Expecter(&expecter{}).(engine.ExpectRemover); ok {
		t.Error("the wrapper of a plain Expecter claims to remove")
	}
}

func TestNodeReplacesStaleExpectation(t *testing.T) {
	stale := natExpect.Tuple
	k := &fakeKernel{stale: &stale}
	a, b := pair(t, k)
	a.Observe(&engine.Conn{Orig: master}, [2]nfq.SeqAdjust{}, &engine.Decision{Expectations: []engine.Expectation{natExpect}})
	eventually(t, "the peer's expectation in place of the stale one", func() bool { n, _, _ := k.snapshot(); return n == 1 })
	if s := b.Stats(); k.removed != 1 || s.Replaced != 1 || s.Failed != 0 {
		t.Errorf("removed %d, stats %+v; want the stale one removed once", k.removed, s)
	}
}

func TestNodeIgnoresStrangers(t *testing.T) {
	k := &fakeKernel{}
	_, b := pair(t, k)
	s, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.2:0")))
	if err != nil {
		t.Skip("no 127.0.0.2 on this host's loopback:", err)
	}
	defer s.Close()
	adj := [2]nfq.SeqAdjust{{Pos: 1, After: 1}}
	m := Message{V: Version, Kind: KindSeqAdj, Master: master, SeqAdj: &adj}
	buf, _ := m.Encode()
	if _, err := s.WriteToUDP(buf, net.UDPAddrFromAddrPort(b.cfg.Listen)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the stranger's datagram counted", func() bool { return b.Stats().Bad == 1 })
	if _, _, n := k.snapshot(); n != 0 {
		t.Errorf("applied a stranger's message")
	}
}

// TestNodeFollowsDestroyed: when an expectation the node sent goes in its
// kernel (used, expired), the peer's copy is removed; the events of
// expectations the node did not send (the copies it holds for the peer,
// others' helpers) and of new expectations send nothing.
func TestNodeFollowsDestroyed(t *testing.T) {
	k := &fakeKernel{}
	a, b := pair(t, k)
	c := &engine.Conn{Orig: master}
	a.Observe(c, [2]nfq.SeqAdjust{}, &engine.Decision{Expectations: []engine.Expectation{natExpect}})
	eventually(t, "the copy on the peer", func() bool { n, _, _ := k.snapshot(); return n == 1 })
	kx := nfq.KernelExpectation{Master: master, Tuple: natExpect.Tuple, Mask: natExpect.Mask, Helper: "ftp"}
	a.Destroyed(nfq.ExpectEvent{New: true, Expectation: kx})
	other := kx
	other.Tuple.DstPort++
	a.Destroyed(nfq.ExpectEvent{Expectation: other})
	b.Destroyed(nfq.ExpectEvent{Expectation: kx}) // b's copy going: not echoed
	a.Destroyed(nfq.ExpectEvent{Expectation: kx})
	a.Destroyed(nfq.ExpectEvent{Expectation: kx}) // once only
	eventually(t, "the removal on the peer", func() bool {
		k.mu.Lock()
		defer k.mu.Unlock()
		return len(k.unexpects) == 1 && k.unexpects[0] == natExpect.Tuple
	})
	time.Sleep(50 * time.Millisecond)
	k.mu.Lock()
	n := len(k.unexpects)
	k.mu.Unlock()
	if s := a.Stats(); n != 1 || s.Followed != 1 || b.Stats().Sent != 0 {
		t.Errorf("peer removed %d, a followed %d, b sent %d; want 1, 1, 0", n, s.Followed, b.Stats().Sent)
	}
}
