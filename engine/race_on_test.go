//go:build race

package engine_test

// raceEnabled: the race detector slows calls down tenfold; timing-based
// assertions widen the budget.
const raceEnabled = true
