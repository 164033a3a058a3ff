package hasync

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/ctlua/ctlua/engine"
	"golang.org/x/sys/unix"
)

// receive reads the peer's datagrams and applies them until the socket
// closes. Datagrams from another address than the peer's are ignored.
func (n *Node) receive() {
	buf := make([]byte, MaxMessage+1)
	for {
		k, from, err := n.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			n.log.Warn("ha sync: receive", "error", err)
			continue
		}
		if from.Addr().Unmap() != n.cfg.Peer.Addr().Unmap() {
			n.bad.Add(1)
			continue
		}
		n.received.Add(1)
		m, err := Decode(buf[:k])
		if err != nil {
			n.bad.Add(1)
			n.log.Warn("ha sync: bad message from the peer", "error", err)
			continue
		}
		if m.Kind == KindSeqAdj {
			n.adopt(m)
			continue
		}
		// A message waits behind an older one of its connection.
		if n.waiting(m) || !n.apply(m) {
			n.defer_(m)
		}
	}
}

// apply creates (or removes) the expectation of m in the kernel. It
// returns false when m's master is not there yet (conntrackd has not
// created it): m is to be tried again.
func (n *Node) apply(m *Message) bool {
	conn := &engine.Conn{Orig: m.Master, Zone: m.Zone}
	if m.Kind == KindUnexpect {
		err := n.cfg.Kernel.Unexpect(conn, m.Expect)
		if errors.Is(err, unix.ENOENT) {
			// Nothing to remove: the copy expired here, or never came
			// (a message of its master still waiting keeps the order:
			// receive defers this one behind it).
			err = nil
		}
		if err == nil {
			n.release(m.Master, m.Zone, m.Expect)
		}
		return n.done(m, err)
	}
	// An expectation of the same master and tuple that this node sent is
	// replaced by the peer's: its removal (an event here) must not go to
	// the peer as the removal of the peer's own.
	n.unsend(m)
	err := n.cfg.Kernel.Expect(conn, m.Expect)
	if errors.Is(err, engine.ErrExpectClash) {
		// Another master's expectation holds the tuple here, where the
		// peer's kernel took this one: it is a copy of an expectation the
		// peer no longer has (used or expired there: only a helper's
		// removals are synced). The peer's is the live one.
		if uerr := n.cfg.Kernel.Unexpect(conn, m.Expect); uerr == nil {
			n.replaced.Add(1)
			err = n.cfg.Kernel.Expect(conn, m.Expect)
		}
	}
	if err == nil {
		n.hold(m)
	}
	return n.done(m, err)
}

// done counts and logs the outcome of applying m; false means m waits for
// its master.
func (n *Node) done(m *Message, err error) bool {
	switch {
	case err == nil:
		n.applied.Add(1)
		n.log.Debug("ha sync: applied the peer's "+m.Kind, "master", m.Master.String(), "expectation", m.Expect.String())
		return true
	case errors.Is(err, unix.ENOENT):
		return false
	default:
		n.failed.Add(1)
		n.log.Warn("ha sync: cannot apply the peer's "+m.Kind, "master", m.Master.String(), "error", err)
		return true
	}
}

// waiting reports whether a message of m's connection waits to be tried
// again.
func (n *Node) waiting(m *Message) bool {
	n.pendingMu.Lock()
	defer n.pendingMu.Unlock()
	for _, p := range n.pending {
		if p.m.Master == m.Master && p.m.Zone == m.Zone {
			return true
		}
	}
	return false
}

// defer_ keeps m to be tried again for the retry period.
func (n *Node) defer_(m *Message) {
	n.pendingMu.Lock()
	defer n.pendingMu.Unlock()
	if len(n.pending) >= maxPending {
		n.expired.Add(1)
		n.log.Warn("ha sync: too many messages wait for their connection, dropping one", "master", m.Master.String())
		return
	}
	n.pending = append(n.pending, pending{m: m, until: time.Now().Add(n.cfg.Retry)})
}

// retryLoop tries the deferred messages again, in order, until they apply
// or their time is up.
func (n *Node) retryLoop(ctx context.Context) {
	t := time.NewTicker(n.cfg.RetryEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n.pendingMu.Lock()
		ps := n.pending
		n.pending = nil
		n.pendingMu.Unlock()
		now := time.Now()
		for i, p := range ps {
			n.retried.Add(1)
			if n.apply(p.m) {
				continue
			}
			if now.After(p.until) {
				n.expired.Add(1)
				n.log.Warn("ha sync: the peer's connection never appeared here (is conntrackd syncing?), dropping its "+p.m.Kind,
					"master", p.m.Master.String(), "waited", n.cfg.Retry)
				continue
			}
			n.pendingMu.Lock()
			n.pending = append(n.pending, ps[i])
			n.pendingMu.Unlock()
		}
	}
}
