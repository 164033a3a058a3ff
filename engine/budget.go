package engine

import (
	"fmt"
	"time"
)

// Bounds and default of the time budget of one callback (Config.Budget).
// Below a millisecond the watchdog's own timer resolution dominates; above
// ten seconds a packet waits in the kernel queue for longer than any
// protocol tolerates.
const (
	DefaultBudget = 50 * time.Millisecond
	MinBudget     = time.Millisecond
	MaxBudget     = 10 * time.Second
)

// CheckBudget returns an error unless d is 0 (the default) or within
// MinBudget..MaxBudget. The daemon's configuration and the engine apply
// this one rule.
func CheckBudget(d time.Duration) error {
	if d != 0 && (d < MinBudget || d > MaxBudget) {
		return fmt.Errorf("budget must be between %s and %s, got %s", MinBudget, MaxBudget, d)
	}
	return nil
}

// Defaults of the other sandbox bounds in Config.
const (
	DefaultStateBytes     = 64 << 20
	DefaultConnStateBytes = 64 << 10
	DefaultMaxStates      = 65536
	DefaultStateIdle      = 30 * time.Minute
	// minStuckAfter is the shortest default for Config.StuckAfter.
	minStuckAfter = time.Second
)
