package replay

import "github.com/ctlua/ctlua/engine"

// Expectations implements engine.ExpectRemover: master's live
// expectations in the simulated table, oldest first.
func (t *table) Expectations(master *engine.Conn) ([]engine.Expectation, error) {
	var out []engine.Expectation
	for _, x := range t.exps {
		if x.masterID == master.ID {
			out = append(out, x.Expectation)
		}
	}
	return out, nil
}

// Unexpect implements engine.ExpectRemover: master's expectation with
// e's tuple and mask leaves the table, reported as an EventExpectGone
// with reason "removed".
func (t *table) Unexpect(master *engine.Conn, e *engine.Expectation) error {
	for i, x := range t.exps {
		if x.masterID == master.ID && x.Tuple == e.Tuple && x.Mask == e.Mask {
			t.drop(i, "removed")
			return nil
		}
	}
	return nil
}
