package hasync

import (
	"time"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/runtime/nfq"
)

// An expKey names an expectation across the pair: its master and the
// side of its tuple that is never masked (destination address and port,
// protocol).
type expKey struct {
	master key
	dst    engine.Tuple
}

func expKeyOf(master engine.Tuple, zone uint16, t engine.Tuple) expKey {
	return expKey{master: key{orig: unmapped(master), zone: zone}, dst: dstOf(t)}
}

// sentTTL bounds how long the node remembers an expectation it sent: no
// policy of a shipped helper keeps one longer.
const sentTTL = 30 * time.Minute

// rememberSent notes that the peer holds a copy of e, so that the copy
// goes when e goes here.
func (n *Node) rememberSent(master *engine.Conn, e *engine.Expectation) {
	now := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.sentExp) >= maxSent {
		for k, t := range n.sentExp {
			if now.After(t) {
				delete(n.sentExp, k)
			}
		}
		if len(n.sentExp) >= maxSent {
			clear(n.sentExp) // at worst a copy lives until it expires
		}
	}
	k := expKeyOf(master.Orig, master.Zone, e.Tuple)
	n.sentExp[k] = now.Add(sentTTL)
	if n.nHeld.Load() > 0 {
		// No copy that clashes with the helper's expectation is in the
		// kernel any more: the helper's replaced it (same master, the
		// kernel's rule), or displace removed it, or it went before
		// (the kernel would have refused the helper's). Listed still, it
		// would make displace remove the helper's own by its tuple.
		n.dropHeld(k.dst, func(c *heldCopy) bool { return c.e.Clashes(e) })
	}
}

// Destroyed takes the kernel's expectation events of this node
// (nfq.ListenExpectations): when an expectation the node sent to the
// peer goes here (a data connection used it, it expired, it was
// deleted), the peer's copy is removed too, as conntrackd's own
// ExpectationSync does. Only the node's own expectations are followed:
// the copies it holds for the peer are not in its list, so their
// removal is never echoed back.
func (n *Node) Destroyed(ev nfq.ExpectEvent) {
	if ev.New {
		return
	}
	x := ev.Expectation
	k := expKeyOf(x.Master, x.Zone, x.Tuple)
	n.mu.Lock()
	_, ours := n.sentExp[k]
	delete(n.sentExp, k)
	n.mu.Unlock()
	if !ours {
		// A copy held for the peer went (used here, expired).
		n.release(x.Master, x.Zone, &engine.Expectation{Tuple: x.Tuple})
		return
	}
	n.destroyedSent.Add(1)
	n.log.Debug("ha sync: an expectation the peer holds a copy of went here", "master", x.Master.String(), "expectation", x.Tuple.String())
	e := &engine.Expectation{Tuple: x.Tuple, Mask: x.Mask, Class: x.Class, Flags: x.Flags, Helper: x.Helper}
	n.queue(Message{Kind: KindUnexpect, Master: unmapped(x.Master), Zone: x.Zone, Expect: e})
}

// unsend forgets that the node sent the expectation of m, a peer's
// message about the same master and tuple: the expectation is the peer's
// now, and its going here is not the node's to sync.
func (n *Node) unsend(m *Message) {
	k := expKeyOf(m.Master, m.Zone, m.Expect.Tuple)
	n.mu.Lock()
	delete(n.sentExp, k)
	n.mu.Unlock()
}
