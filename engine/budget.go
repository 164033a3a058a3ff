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

// ChunkBudget returns the bound on a script's chunk (its top level) for a
// callback budget b: ten times b, and at least a second. The chunk runs
// off the packet path (check, load, reload, a replaced worker's sandbox),
// so it need not fit a packet's budget; it must be bounded, and the same
// for `ctlua check` and the daemon. A tighter bound made a trivial script
// fail to load when the host stalled the daemon for 50 ms (seen under
// emulation on a busy machine).
func ChunkBudget(b time.Duration) time.Duration {
	return max(10*b, time.Second)
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
