package replay

import (
	"errors"
	"fmt"
	"time"

	"github.com/ctlua/ctlua/engine"
)

// A conn is one simulated conntrack entry.
type conn struct {
	c        engine.Conn
	helped   bool
	fin      [2]bool
	closed   bool
	lastSeen time.Time
}

// An Expectation is a live expectation of the simulated conntrack.
type Expectation struct {
	engine.Expectation
	// Master is the master connection's original tuple, MasterHelper its
	// helper.
	Master       engine.Tuple
	MasterHelper string
	// Timeout is the policy's timeout; Expires the capture time it ends.
	Timeout time.Duration
	Created time.Time
	Expires time.Time

	masterID uint32
}

// table is the simulated conntrack: connections by both tuples, and the
// live expectations in creation order.
type table struct {
	conns  map[engine.Tuple]*conn
	exps   []*Expectation
	nextID uint32

	// While a packet is handled: its capture time, the helper's policies,
	// and the expectation events to report after the packet's own.
	now     time.Time
	spec    *engine.Spec
	pending []Event
}

// errSameOtherClass is the kernel's EALREADY: the master already has an
// equal expectation of another class.
var errSameOtherClass = errors.New("the master has an equal expectation of another class")

func newTable() *table { return &table{conns: map[engine.Tuple]*conn{}} }

// Lookup implements engine.Conntrack.
func (t *table) Lookup(tu engine.Tuple) (*engine.Conn, error) {
	if c, ok := t.conns[tu]; ok {
		return &c.c, nil
	}
	return nil, fmt.Errorf("lookup %s: %w", tu, engine.ErrNotFound)
}

func (t *table) add(orig engine.Tuple) *conn {
	t.nextID++
	c := &conn{c: engine.Conn{ID: t.nextID, Orig: orig, Reply: orig.Reverse()}}
	t.conns[orig] = c
	t.conns[c.c.Reply] = c
	return c
}

func (t *table) remove(c *conn) {
	delete(t.conns, c.c.Orig)
	delete(t.conns, c.c.Reply)
}

// expire drops the expectations that ended before now.
func (t *table) expire(now time.Time, gone func(*Expectation)) {
	live := t.exps[:0]
	for _, x := range t.exps {
		if now.After(x.Expires) {
			gone(x)
			continue
		}
		live = append(live, x)
	}
	t.exps = live
}

// match returns the first live expectation a new connection's tuple falls
// under, removing it unless it is permanent.
func (t *table) match(tu engine.Tuple) *Expectation {
	for i, x := range t.exps {
		if x.Matches(tu) {
			if x.Flags&engine.ExpectPermanent == 0 {
				t.exps = append(t.exps[:i], t.exps[i+1:]...)
			}
			return x
		}
	}
	return nil
}

// Expect implements engine.Expecter for the packet being handled: the
// expectation is inserted at once, under the helper's policy.
func (t *table) Expect(master *engine.Conn, e *engine.Expectation) error {
	return t.related(master, *e)
}

// related inserts x for master like nf_ct_expect_related, under the
// policy of its class: an equal expectation of the same master and class
// is replaced, one that clashes with another master's is refused
// (ErrExpectClash, the kernel's EBUSY), and when the master already has
// max_expected of the class the oldest goes (evict_oldest_expect). Events
// for what happened wait in t.pending.
func (t *table) related(master *engine.Conn, x engine.Expectation) error {
	pol := t.spec.Policies[x.Class]
	ex := &Expectation{Expectation: x, Master: master.Orig, MasterHelper: master.Helper, Timeout: pol.Timeout,
		Created: t.now, Expires: t.now.Add(pol.Timeout), masterID: master.ID}
	for i, y := range t.exps {
		if y.masterID == ex.masterID && y.Tuple == ex.Tuple && y.Mask == ex.Mask {
			if y.Class != ex.Class {
				return fmt.Errorf("expectation %s: %w", &x, errSameOtherClass)
			}
			t.drop(i, "replaced")
			break
		}
		if y.Clashes(&ex.Expectation) {
			return fmt.Errorf("expectation %s: %w", &x, engine.ErrExpectClash)
		}
	}
	var n uint32
	oldest := -1
	for i, y := range t.exps {
		if y.masterID == ex.masterID && y.Class == ex.Class {
			n++
			if oldest < 0 {
				oldest = i
			}
		}
	}
	if n >= pol.MaxExpected && oldest >= 0 {
		t.drop(oldest, "evicted")
	}
	t.exps = append(t.exps, ex)
	t.pending = append(t.pending, Event{Kind: EventExpect, Conn: master, Expect: ex})
	return nil
}

// drop removes the i'th expectation, reporting why.
func (t *table) drop(i int, reason string) {
	t.pending = append(t.pending, Event{Kind: EventExpectGone, Expect: t.exps[i], Reason: reason})
	t.exps = append(t.exps[:i], t.exps[i+1:]...)
}
