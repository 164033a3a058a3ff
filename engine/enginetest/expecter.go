package enginetest

import (
	"fmt"

	"github.com/ctlua/ctlua/engine"
)

// Expecter is an engine.Expecter for tests and benchmarks: a table of live
// expectations with the kernel's insertion rules (an equal expectation of
// the same master is replaced, one that clashes with another master's is
// refused with engine.ErrExpectClash).
type Expecter struct {
	live []expectation
	// Inserted lists what Expect accepted; callers reset it between
	// packets.
	Inserted []engine.Expectation
	// Removed lists what Unexpect removed; callers reset it too.
	Removed []engine.Expectation
}

type expectation struct {
	master uint32 // 0: another connection's (Occupy)
	e      engine.Expectation
}

// Expect implements engine.Expecter.
func (x *Expecter) Expect(master *engine.Conn, e *engine.Expectation) error {
	for i, y := range x.live {
		if y.master == master.ID && y.e.Tuple == e.Tuple && y.e.Mask == e.Mask {
			x.live = append(x.live[:i], x.live[i+1:]...)
			break
		}
		if y.master != master.ID && y.e.Clashes(e) {
			return fmt.Errorf("expectation %s: %w", e, engine.ErrExpectClash)
		}
	}
	x.live = append(x.live, expectation{master.ID, *e})
	x.Inserted = append(x.Inserted, *e)
	return nil
}

// Occupy makes e another connection's live expectation.
func (x *Expecter) Occupy(e engine.Expectation) { x.live = append(x.live, expectation{0, e}) }

// Expectations implements engine.ExpectRemover: master's live
// expectations, oldest first.
func (x *Expecter) Expectations(master *engine.Conn) ([]engine.Expectation, error) {
	var out []engine.Expectation
	for _, y := range x.live {
		if y.master == master.ID {
			out = append(out, y.e)
		}
	}
	return out, nil
}

// Unexpect implements engine.ExpectRemover; what it removes is appended
// to Removed.
func (x *Expecter) Unexpect(master *engine.Conn, e *engine.Expectation) error {
	for i, y := range x.live {
		if y.master == master.ID && y.e.Tuple == e.Tuple && y.e.Mask == e.Mask {
			x.live = append(x.live[:i], x.live[i+1:]...)
			x.Removed = append(x.Removed, y.e)
			return nil
		}
	}
	return nil
}
