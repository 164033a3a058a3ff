package hasync

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/runtime/nfq"
	"golang.org/x/sys/unix"
)

// tableKernel is one node's expectation table with the kernel's rules
// over ctnetlink: an expectation that clashes with a live one is refused
// (EEXIST: ctnetlink looks the tuple up before it creates), removal is by
// tuple. The node applies its peer's copies to it, and its helper's
// expecter inserts into it, as the daemon's one ctnetlink socket does.
type tableKernel struct {
	mu   sync.Mutex
	live []liveExp
}

type liveExp struct {
	master engine.Tuple
	e      engine.Expectation
}

func (k *tableKernel) Expect(master *engine.Conn, e *engine.Expectation) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, l := range k.live {
		if l.e.Clashes(e) {
			return fmt.Errorf("%w: ctnetlink: create expectation %s: %w", engine.ErrExpectClash, e, unix.EEXIST)
		}
	}
	k.live = append(k.live, liveExp{master: master.Orig, e: *e})
	return nil
}

func (k *tableKernel) Unexpect(_ *engine.Conn, e *engine.Expectation) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	for i, l := range k.live {
		if l.e.Matches(e.Tuple) {
			k.live = append(k.live[:i], k.live[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("ctnetlink: delete expectation: %w", unix.ENOENT)
}

func (k *tableKernel) SetSeqAdjust(*engine.Conn, engine.Direction, nfq.SeqAdjust) error { return nil }

// holders returns the masters of the live expectations of e's tuple.
func (k *tableKernel) holders(e *engine.Expectation) []engine.Tuple {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []engine.Tuple
	for _, l := range k.live {
		if l.e.Matches(e.Tuple) {
			out = append(out, l.master)
		}
	}
	return out
}

// TestNodeDisplacesLeftoverCopies: on the node that carries the traffic
// again, a copy it holds for the peer (never used here, its removal never
// came) gives way to its own helper's expectation of the same tuple, by
// expect.insert (the expecter) and by an expectation in a verdict
// (Observe, before the verdict is sent); an expectation that is not a
// copy, or a copy of another tuple, stays.
func TestNodeDisplacesLeftoverCopies(t *testing.T) {
	other := master
	other.SrcPort++ // another call's SIP connection, say
	otherPort := natExpect
	otherPort.Tuple.DstPort += 2
	tests := []struct {
		name     string
		copyOf   *engine.Tuple // the master of the copy b holds, if any
		own      bool          // b's table has an expectation of its own instead
		removed  bool          // the peer removed the copy before
		insert   engine.Expectation
		verdict  bool // the helper's expectation travels in a verdict
		wantErr  bool
		want     engine.Tuple // the master holding the tuple after
		displace uint64
	}{
		{name: "copy of another master", copyOf: &master, insert: natExpect, want: other, displace: 1},
		{name: "copy of the same master", copyOf: &other, insert: natExpect, want: other, displace: 1},
		{name: "copy, expectation in a verdict", copyOf: &master, insert: natExpect, verdict: true, displace: 1},
		{name: "own expectation is not displaced", own: true, insert: natExpect, wantErr: true, want: master},
		{name: "copy of another tuple stays", copyOf: &master, insert: otherPort, want: other},
		{name: "copy already removed by the peer", copyOf: &master, removed: true, insert: natExpect, want: other},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ka, kb := &tableKernel{}, &tableKernel{}
			a, b := pairOn(t, ka, kb)
			switch {
			case tc.copyOf != nil:
				a.Observe(&engine.Conn{Orig: *tc.copyOf}, [2]nfq.SeqAdjust{}, &engine.Decision{Expectations: []engine.Expectation{natExpect}})
				eventually(t, "the copy on b", func() bool { return len(kb.holders(&natExpect)) == 1 })
				if tc.removed {
					a.queue(Message{Kind: KindUnexpect, Master: *tc.copyOf, Expect: &natExpect})
					eventually(t, "the copy removed on b", func() bool { return len(kb.holders(&natExpect)) == 0 })
				}
			case tc.own:
				if err := kb.Expect(&engine.Conn{Orig: master}, &natExpect); err != nil {
					t.Fatal(err)
				}
			}
			e := tc.insert
			var err error
			if tc.verdict {
				b.Observe(&engine.Conn{Orig: other}, [2]nfq.SeqAdjust{}, &engine.Decision{Expectations: []engine.Expectation{e}})
			} else {
				err = b.Expecter(kb).Expect(&engine.Conn{Orig: other}, &e)
			}
			if (err != nil) != tc.wantErr || (err != nil && !errors.Is(err, engine.ErrExpectClash)) {
				t.Fatalf("insert: %v, want an error: %v", err, tc.wantErr)
			}
			var want []engine.Tuple
			if tc.want != (engine.Tuple{}) {
				want = []engine.Tuple{tc.want}
			}
			if got := kb.holders(&e); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("the tuple is held by %v, want %v", got, want)
			}
			if tc.insert.Tuple != natExpect.Tuple && tc.copyOf != nil && len(kb.holders(&natExpect)) != 1 {
				t.Errorf("the copy of another tuple went")
			}
			if s := b.Stats(); s.Displaced != tc.displace {
				t.Errorf("displaced %d copies, want %d", s.Displaced, tc.displace)
			}
			if tc.displace > 0 {
				// The peer gets the helper's expectation: its original
				// of the tuple gives way to it (apply).
				eventually(t, "the helper's expectation on a", func() bool {
					h := ka.holders(&e)
					return len(h) == 1 && h[0] == other
				})
			}
		})
	}
}

// TestNodeReplacedOwnNotEchoed: a node that replaces the expectation it
// sent with the peer's copy of the same master and tuple (the peer's
// helper made it again after a failover) does not sync the old one's
// going back as a removal: the peer would remove its live one.
func TestNodeReplacedOwnNotEchoed(t *testing.T) {
	ka, kb := &tableKernel{}, &fakeKernel{}
	a, b := pairOn(t, ka, kb)
	c := &engine.Conn{Orig: master}
	if err := a.Expecter(&tableKernel{}).Expect(c, &natExpect); err != nil { // a's own, sent to b
		t.Fatal(err)
	}
	eventually(t, "a's expectation on b", func() bool { n, _, _ := kb.snapshot(); return n == 1 })
	// b's helper makes it again; a's kernel replaces its own with b's.
	b.Observe(c, [2]nfq.SeqAdjust{}, &engine.Decision{Expectations: []engine.Expectation{natExpect}})
	eventually(t, "b's expectation on a", func() bool { return a.Stats().Applied == 1 })
	a.Destroyed(nfq.ExpectEvent{Expectation: nfq.KernelExpectation{Master: master, Tuple: natExpect.Tuple, Mask: natExpect.Mask}})
	time.Sleep(50 * time.Millisecond)
	if s := a.Stats(); b.Stats().Received != 1 || s.Followed != 0 {
		t.Errorf("a synced the replaced expectation's going: b received %d messages, a followed %d; want 1, 0",
			b.Stats().Received, s.Followed)
	}
}

// pairOn starts two nodes on loopback, a applying to ka and b to kb.
func pairOn(t *testing.T, ka, kb Kernel) (a, b *Node) {
	pa, pb := freePort(t, "127.0.0.1"), freePort(t, "127.0.0.1")
	var err error
	if a, err = Listen(Config{Listen: pa, Peer: pb, Kernel: ka, RetryEvery: 10 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if b, err = Listen(Config{Listen: pb, Peer: pa, Kernel: kb, RetryEvery: 10 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go a.Run(ctx)
	go b.Run(ctx)
	return a, b
}

// TestNodeOwnExpectationEndsCopy: once the node's helper holds a tuple
// (here the copy that was on it went without an event), the copy is off
// the list: a later clash on that tuple is with the helper's own, which
// must not be displaced.
func TestNodeOwnExpectationEndsCopy(t *testing.T) {
	ka, kb := &tableKernel{}, &tableKernel{}
	a, b := pairOn(t, ka, kb)
	a.Observe(&engine.Conn{Orig: master}, [2]nfq.SeqAdjust{}, &engine.Decision{Expectations: []engine.Expectation{natExpect}})
	eventually(t, "the copy on b", func() bool { return len(kb.holders(&natExpect)) == 1 })
	if err := kb.Unexpect(nil, &natExpect); err != nil { // gone, and no event came
		t.Fatal(err)
	}
	second, third := master, master
	second.SrcPort += 10
	third.SrcPort += 20
	x := b.Expecter(kb)
	e := natExpect
	if err := x.Expect(&engine.Conn{Orig: second}, &e); err != nil {
		t.Fatal(err)
	}
	if err := x.Expect(&engine.Conn{Orig: third}, &e); !errors.Is(err, engine.ErrExpectClash) {
		t.Errorf("a third master's insert: %v, want the clash with the second's", err)
	}
	if got := kb.holders(&e); len(got) != 1 || got[0] != second {
		t.Errorf("the tuple is held by %v, want the second master's own", got)
	}
	if s := b.Stats(); s.Displaced != 0 {
		t.Errorf("displaced %d, want 0", s.Displaced)
	}
}
