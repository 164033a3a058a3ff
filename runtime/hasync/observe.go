package hasync

import (
	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/runtime/nfq"
)

// Observe is the queues' nfq.Observer: it sends the peer the decision's
// expectations and the connection's sequence adjustment when it changed.
func (n *Node) Observe(c *engine.Conn, seqadj [2]nfq.SeqAdjust, d *engine.Decision) {
	for i := range d.Expectations {
		n.sendExpect(c, &d.Expectations[i])
	}
	if seqadj == ([2]nfq.SeqAdjust{}) || c.Orig.Proto != engine.ProtoTCP {
		return
	}
	k := key{orig: unmapped(c.Orig), zone: c.Zone}
	n.mu.Lock()
	last, known := n.sent[k]
	if known && last == seqadj {
		n.mu.Unlock()
		return
	}
	if len(n.sent) >= maxSent {
		clear(n.sent) // forget them all: at worst an adjustment is sent again
	}
	n.sent[k] = seqadj
	n.mu.Unlock()
	adj := seqadj
	n.queue(Message{Kind: KindSeqAdj, Master: k.orig, Zone: c.Zone, SeqAdj: &adj})
}

// Forget drops what the node remembers of a destroyed connection.
func (n *Node) Forget(k engine.ConnKey) {
	n.mu.Lock()
	delete(n.sent, key{orig: unmapped(k.Orig)})
	n.mu.Unlock()
}

func (n *Node) sendExpect(master *engine.Conn, e *engine.Expectation) {
	n.expectationsObserved.Add(1)
	x := *e
	if x.NAT != nil {
		nat := *x.NAT
		x.NAT = &nat
	}
	n.queue(Message{Kind: KindExpect, Master: unmapped(master.Orig), Zone: master.Zone, Expect: &x})
}

// Expecter wraps the engine's expecter: an expectation a script inserts at
// once (expect.insert, expect.hunt) is sent to the peer once the kernel
// took it.
func (n *Node) Expecter(inner engine.Expecter) engine.Expecter { return &expecter{n: n, inner: inner} }

type expecter struct {
	n     *Node
	inner engine.Expecter
}

func (x *expecter) Expect(master *engine.Conn, e *engine.Expectation) error {
	if err := x.inner.Expect(master, e); err != nil {
		return err
	}
	x.n.sendExpect(master, e)
	return nil
}
