package hasync

import (
	"errors"
	"fmt"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/runtime/nfq"
	"golang.org/x/sys/unix"
)

// Observe is the queues' nfq.Observer: it sends the peer the decision's
// expectations and the connection's sequence adjustment when it changed.
func (n *Node) Observe(c *engine.Conn, seqadj [2]nfq.SeqAdjust, d *engine.Decision) {
	for i := range d.Expectations {
		n.displace(&d.Expectations[i]) // before the verdict creates it
		n.sendExpect(c, &d.Expectations[i])
	}
	if c.Orig.Proto != engine.ProtoTCP {
		return
	}
	k := key{orig: unmapped(c.Orig), zone: c.Zone}
	if n.nAdopted.Load() > 0 && n.takeOver(c, k) {
		return
	}
	if seqadj == ([2]nfq.SeqAdjust{}) {
		return
	}
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

// takeOver sets the peer's adjustment of c, if the node holds one, on
// c's first packet here: the verdict that follows is then adjusted like
// the peer's were. It reports whether it did; the adjustment the packet
// was queued with is then stale and not sent (the next packet's is).
//
// The adjustment is set now, not when it arrives: setting it on the
// backup's copy raises a conntrack event there, which conntrackd would
// sync back to the master's live connection (and, when its update fails,
// replace the connection, expectations and all).
func (n *Node) takeOver(c *engine.Conn, k key) bool {
	n.mu.Lock()
	adj, ok := n.adopted[k]
	if ok {
		delete(n.adopted, k)
		n.nAdopted.Store(int32(len(n.adopted)))
		n.sent[k] = adj
	}
	n.mu.Unlock()
	if !ok {
		return false
	}
	for dir := range adj {
		if err := n.cfg.Kernel.SetSeqAdjust(c, engine.Direction(dir), adj[dir]); err != nil {
			n.failed.Add(1)
			n.log.Warn("ha sync: cannot set the peer's sequence adjustment on a taken-over connection",
				"conn", c.Orig.String(), "error", err)
			return true
		}
	}
	n.takenOver.Add(1)
	n.log.Info("ha sync: took over the peer's sequence adjustment", "conn", c.Orig.String(),
		"original", fmt.Sprintf("%+v", adj[0]), "reply", fmt.Sprintf("%+v", adj[1]))
	return true
}

// adopt keeps the peer's adjustment of a connection for takeOver.
func (n *Node) adopt(m *Message) {
	k := key{orig: unmapped(m.Master), zone: m.Zone}
	n.mu.Lock()
	if len(n.adopted) >= maxSent {
		clear(n.adopted)
		n.log.Warn("ha sync: too many adjustments held for the peer's connections, dropped them")
	}
	n.adopted[k] = *m.SeqAdj
	n.nAdopted.Store(int32(len(n.adopted)))
	n.mu.Unlock()
	n.applied.Add(1)
	n.log.Debug("ha sync: stored the peer's seqadj", "master", m.Master.String())
}

// Forget drops what the node remembers of a destroyed connection.
func (n *Node) Forget(k engine.ConnKey) {
	n.mu.Lock()
	delete(n.sent, key{orig: unmapped(k.Orig)})
	if _, ok := n.adopted[key{orig: unmapped(k.Orig)}]; ok {
		delete(n.adopted, key{orig: unmapped(k.Orig)})
		n.nAdopted.Store(int32(len(n.adopted)))
	}
	n.mu.Unlock()
}

func (n *Node) sendExpect(master *engine.Conn, e *engine.Expectation) {
	n.expectationsObserved.Add(1)
	n.rememberSent(master, e)
	x := *e
	if x.NAT != nil {
		nat := *x.NAT
		x.NAT = &nat
	}
	n.log.Debug("ha sync: sending an expectation", "master", master.Orig.String(), "expectation", x.String())
	n.queue(Message{Kind: KindExpect, Master: unmapped(master.Orig), Zone: master.Zone, Expect: &x})
}

// Expecter wraps the engine's expecter: an expectation a script inserts at
// once (expect.insert, expect.hunt) is sent to the peer once the kernel
// took it. When inner can also list and remove expectations
// (engine.ExpectRemover), so can the wrapper, and a removal
// (expect.remove) is sent to the peer too.
func (n *Node) Expecter(inner engine.Expecter) engine.Expecter {
	x := &expecter{n: n, inner: inner}
	if r, ok := inner.(engine.ExpectRemover); ok {
		return &remover{expecter: x, r: r}
	}
	return x
}

type expecter struct {
	n     *Node
	inner engine.Expecter
}

func (x *expecter) Expect(master *engine.Conn, e *engine.Expectation) error {
	err := x.inner.Expect(master, e)
	if err != nil && (errors.Is(err, engine.ErrExpectClash) || errors.Is(err, unix.EEXIST)) && x.n.displace(e) > 0 {
		// A copy held for the peer had the tuple: the helper's is the
		// live one now.
		err = x.inner.Expect(master, e)
	}
	if err != nil {
		return err
	}
	x.n.sendExpect(master, e)
	return nil
}

type remover struct {
	*expecter
	r engine.ExpectRemover
}

func (x *remover) Expectations(master *engine.Conn) ([]engine.Expectation, error) {
	return x.r.Expectations(master)
}

func (x *remover) Unexpect(master *engine.Conn, e *engine.Expectation) error {
	if err := x.r.Unexpect(master, e); err != nil {
		return err
	}
	u := *e
	u.NAT = nil
	x.n.queue(Message{Kind: KindUnexpect, Master: unmapped(master.Orig), Zone: master.Zone, Expect: &u})
	return nil
}
