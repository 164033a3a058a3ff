package hasync

import (
	"errors"
	"time"

	"github.com/ctlua/ctlua/engine"
	"golang.org/x/sys/unix"
)

// A heldCopy is an expectation this node created for its peer (a copy of
// one the peer's helper made), until it goes: the peer removes it, it goes
// in the kernel here, or its time is up.
type heldCopy struct {
	master key
	e      engine.Expectation
	until  time.Time
}

// dstOf is the side of an expectation's tuple that is never masked
// (destination address and port, protocol): half of an expKey, and the
// index of the held copies.
func dstOf(t engine.Tuple) engine.Tuple {
	t = unmapped(t)
	return engine.Tuple{Dst: t.Dst, DstPort: t.DstPort, Proto: t.Proto}
}

// hold notes the copy m created here.
func (n *Node) hold(m *Message) {
	k := expKeyOf(m.Master, m.Zone, m.Expect.Tuple)
	now := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.nHeld.Load() >= maxSent {
		n.pruneHeld(now)
		if n.nHeld.Load() >= maxSent {
			clear(n.held) // at worst a leftover copy is not displaced
			n.nHeld.Store(0)
		}
	}
	n.dropHeld(k.dst, func(c *heldCopy) bool { return c.master == k.master && c.e.Clashes(m.Expect) })
	e := *m.Expect
	e.NAT = nil // only the tuple, mask and class are needed to find and remove it
	n.setHeld(k.dst, append(n.held[k.dst], heldCopy{master: k.master, e: e, until: now.Add(sentTTL)}))
}

// release forgets the copy of master's expectation e (the peer removed
// it, or it went in the kernel here).
func (n *Node) release(master engine.Tuple, zone uint16, e *engine.Expectation) {
	if n.nHeld.Load() == 0 {
		return
	}
	k := expKeyOf(master, zone, e.Tuple)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.dropHeld(k.dst, func(c *heldCopy) bool { return c.master == k.master && c.e.Matches(e.Tuple) })
}

// setHeld stores the copies of one destination; n.mu is held.
func (n *Node) setHeld(d engine.Tuple, cs []heldCopy) {
	n.nHeld.Add(int32(len(cs) - len(n.held[d])))
	if len(cs) == 0 {
		delete(n.held, d)
	} else {
		n.held[d] = cs
	}
}

// dropHeld removes the copies of destination d that gone reports, and
// returns them; n.mu is held.
func (n *Node) dropHeld(d engine.Tuple, gone func(*heldCopy) bool) []heldCopy {
	var keep, out []heldCopy
	for _, c := range n.held[d] {
		if gone(&c) {
			out = append(out, c)
		} else {
			keep = append(keep, c)
		}
	}
	if len(out) > 0 {
		n.setHeld(d, keep)
	}
	return out
}

// pruneHeld forgets the copies whose time is up; n.mu is held.
func (n *Node) pruneHeld(now time.Time) {
	for d := range n.held {
		n.dropHeld(d, func(c *heldCopy) bool { return !now.Before(c.until) })
	}
}

// displace removes the copies held for the peer that clash with e, an
// expectation this node's helper creates: the node carries the traffic of
// e's master, so a copy on the same tuple is a leftover of the peer's time
// as the active node (an expectation never used here, whose removal did
// not come), and without this it would make the kernel refuse the helper's
// own (EEXIST over ctnetlink, EBUSY in a verdict, where the refusal is
// silent). The peer gets e and replaces its own clashing original (apply).
// It returns how many copies it removed.
func (n *Node) displace(e *engine.Expectation) int {
	if n.nHeld.Load() == 0 {
		return 0
	}
	d := dstOf(e.Tuple)
	n.mu.Lock()
	gone := n.dropHeld(d, func(c *heldCopy) bool { return c.e.Clashes(e) })
	n.mu.Unlock()
	removed := 0
	for i := range gone {
		c := &gone[i]
		err := n.cfg.Kernel.Unexpect(&engine.Conn{Orig: c.master.orig, Zone: c.master.zone}, &c.e)
		if err != nil && !errors.Is(err, unix.ENOENT) {
			n.failed.Add(1)
			n.log.Warn("ha sync: cannot remove the peer's leftover expectation for this node's own",
				"master", c.master.orig.String(), "expectation", c.e.String(), "error", err)
			continue
		}
		removed++
		n.displaced.Add(1)
		n.log.Info("ha sync: removed the peer's leftover expectation for this node's own",
			"master", c.master.orig.String(), "expectation", c.e.String(), "for", e.String())
	}
	return removed
}
