package replay

import (
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
}

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

// insert adds an expectation; when the master already has max of the
// class, the oldest of them is evicted first, like the kernel's
// evict_oldest_expect.
func (t *table) insert(x *Expectation, max uint32, evicted func(*Expectation)) {
	var n uint32
	oldest := -1
	for i, y := range t.exps {
		if y.masterID == x.masterID && y.Class == x.Class {
			n++
			if oldest < 0 {
				oldest = i
			}
		}
	}
	if n >= max && oldest >= 0 {
		evicted(t.exps[oldest])
		t.exps = append(t.exps[:oldest], t.exps[oldest+1:]...)
	}
	t.exps = append(t.exps, x)
}
