package engine

import "errors"

// ErrNoExpectRemover is returned by runtimes whose Expecter cannot list
// or remove expectations.
var ErrNoExpectRemover = errors.New("this runtime cannot list or remove expectations")

// An ExpectRemover is an Expecter that can also list a master
// connection's live expectations and remove them, as the kernel's helpers
// do (nf_ct_unexpect_related; SIP's flush_expectations on BYE, an error
// response or a re-INVITE). The daemon implements it over ctnetlink
// (IPCTNL_MSG_EXP_GET dump, IPCTNL_MSG_EXP_DELETE), the replay with its
// simulated table, enginetest with its table.
type ExpectRemover interface {
	Expecter
	// Expectations returns master's live expectations, oldest first, with
	// their Class (Policy may be empty: callers name it from the class).
	Expectations(master *Conn) ([]Expectation, error)
	// Unexpect removes master's live expectation with e's tuple and mask.
	// Removing one that is gone already is not an error.
	Unexpect(master *Conn, e *Expectation) error
}
