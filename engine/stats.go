package engine

import (
	"sync"
	"sync/atomic"
	"time"
)

// Stats are the counters of one helper, across its versions.
type Stats struct {
	Packets        uint64
	Accepted       uint64
	Dropped        uint64
	Expectations   uint64
	Mangled        uint64
	Errors         uint64 // all script failures, including the three below
	Timeouts       uint64
	BadReturns     uint64
	LoadErrors     uint64
	Reloads        uint64
	ReloadFailures uint64
	LogsSuppressed uint64
	// Limits counts the calls failed by a sandbox bound other than time
	// (a per-connection state over its size).
	Limits uint64
	// StateEvictions counts the per-connection states dropped, least
	// recently used first, to keep the helper's states within bounds.
	StateEvictions uint64
	// StateResets counts the connection states reset to an empty table
	// because on_reload failed on them (see the on_reload policy).
	StateResets uint64
	// Abandoned counts the calls whose worker was abandoned because its
	// Go code did not return long after the budget.
	Abandoned uint64
	// Skipped counts the packets accepted without a call because the
	// helper's declaration left them out (payload_only, match, lines);
	// Packets does not count them.
	Skipped uint64
	// ExpectInserted counts the expectations inserted at once
	// (expect.insert, expect.hunt) that the expecter accepted;
	// ExpectHunted those of them that expect.hunt inserted; ExpectRefused
	// the insertions the expecter refused (for a hunt, once, when no
	// port was free); HuntClashes the ports a hunt found held by another
	// connection's expectation. Expectations counts those the decisions
	// carried.
	ExpectInserted, ExpectHunted, ExpectRefused, HuntClashes uint64
	// States is the number of per-connection states the helper holds now,
	// in all workers.
	States int64
	// Latency is the time Handle spent on each packet that ran the
	// helper.
	Latency Histogram
}

type counters struct {
	packets, accepted, dropped, expectations, mangled atomic.Uint64
	errors, timeouts, badReturns, loadErrors          atomic.Uint64
	reloads, reloadFailures, logsSuppressed           atomic.Uint64
	limits, stateEvictions, stateResets, abandoned    atomic.Uint64
	skipped                                           atomic.Uint64
	expectInserted, expectHunted, expectRefused       atomic.Uint64
	huntClashes                                       atomic.Uint64
	latency                                           latency
	recent                                            recentErrors
}

func (c *counters) snapshot() Stats {
	return Stats{
		Packets: c.packets.Load(), Accepted: c.accepted.Load(), Dropped: c.dropped.Load(),
		Expectations: c.expectations.Load(), Mangled: c.mangled.Load(),
		Errors: c.errors.Load(), Timeouts: c.timeouts.Load(), BadReturns: c.badReturns.Load(),
		LoadErrors: c.loadErrors.Load(), Reloads: c.reloads.Load(),
		ReloadFailures: c.reloadFailures.Load(), LogsSuppressed: c.logsSuppressed.Load(),
		Limits: c.limits.Load(), StateEvictions: c.stateEvictions.Load(),
		StateResets: c.stateResets.Load(), Abandoned: c.abandoned.Load(), Skipped: c.skipped.Load(),
		ExpectInserted: c.expectInserted.Load(), ExpectHunted: c.expectHunted.Load(),
		ExpectRefused: c.expectRefused.Load(), HuntClashes: c.huntClashes.Load(),
		Latency: c.latency.snapshot(),
	}
}

// rateLimiter is a token bucket shared by the workers of one helper.
type rateLimiter struct {
	mu     sync.Mutex
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
}

func newRateLimiter(rate, burst float64) *rateLimiter {
	return &rateLimiter{rate: rate, burst: burst, tokens: burst}
}

func (r *rateLimiter) allow(now time.Time) bool {
	if r.rate <= 0 {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.last.IsZero() {
		r.tokens += now.Sub(r.last).Seconds() * r.rate
		if r.tokens > r.burst {
			r.tokens = r.burst
		}
	}
	r.last = now
	if r.tokens < 1 {
		return false
	}
	r.tokens--
	return true
}
