package engine

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// LatencyBounds are the upper bounds of the buckets of a helper's
// per-packet latency histogram (Stats.Latency): the time Handle spends on
// one packet in its worker, the script's call included. A last bucket
// holds what is slower than the last bound.
var LatencyBounds = [...]time.Duration{
	10 * time.Microsecond, 25 * time.Microsecond, 50 * time.Microsecond,
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, time.Second,
}

// A Histogram counts durations in the buckets of LatencyBounds.
type Histogram struct {
	// Buckets[i] counts the durations d with LatencyBounds[i-1] < d <=
	// LatencyBounds[i]; the last one those over the last bound. They are
	// not cumulative.
	Buckets [len(LatencyBounds) + 1]uint64
	// Count is the number of durations, Sum their total.
	Count uint64
	Sum   time.Duration
}

// latency is a Histogram updated with atomics: observing costs no lock
// and no allocation.
type latency struct {
	buckets [len(LatencyBounds) + 1]atomic.Uint64
	sum     atomic.Int64
}

func (l *latency) observe(d time.Duration) {
	i := 0
	for i < len(LatencyBounds) && d > LatencyBounds[i] {
		i++
	}
	l.buckets[i].Add(1)
	l.sum.Add(int64(d))
}

func (l *latency) snapshot() Histogram {
	var h Histogram
	for i := range l.buckets {
		h.Buckets[i] = l.buckets[i].Load()
		h.Count += h.Buckets[i]
	}
	h.Sum = time.Duration(l.sum.Load())
	return h
}

// An ErrorRecord is one of a helper's recent failures: a script error,
// a timeout, a failed or refused reload.
type ErrorRecord struct {
	Time time.Time
	// Kind is the ScriptError kind ("runtime", "timeout"...) or "reload".
	Kind string
	// At is the script's file:line, when known.
	At  string
	Msg string
}

// maxRecentErrors is how many failures a helper remembers.
const maxRecentErrors = 8

// recentErrors is a ring of a helper's last failures. It is only written
// on failure paths.
type recentErrors struct {
	mu   sync.Mutex
	ring [maxRecentErrors]ErrorRecord
	n    int // records written
}

func (r *recentErrors) add(rec ErrorRecord) {
	r.mu.Lock()
	r.ring[r.n%maxRecentErrors] = rec
	r.n++
	r.mu.Unlock()
}

func (r *recentErrors) addError(err error) {
	rec := ErrorRecord{Time: time.Now(), Kind: "reload", Msg: err.Error()}
	var de *DeclError
	if errors.As(err, &de) && de.Line > 0 {
		rec.At = fmt.Sprintf("%s:%d", de.File, de.Line)
		rec.Msg = strings.TrimPrefix(rec.Msg, rec.At+": ")
	}
	r.add(rec)
}

func (r *recentErrors) addScript(se *ScriptError) {
	r.add(ErrorRecord{Time: time.Now(), Kind: se.Kind.String(), At: se.Location(), Msg: se.Msg})
}

// list returns the records, oldest first.
func (r *recentErrors) list() []ErrorRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := min(r.n, maxRecentErrors)
	out := make([]ErrorRecord, 0, k)
	for i := r.n - k; i < r.n; i++ {
		out = append(out, r.ring[i%maxRecentErrors])
	}
	return out
}

// RecentErrors returns the named helper's last failures (at most eight),
// oldest first: script errors and timeouts of its calls, failed loads
// and refused reloads.
func (e *Engine) RecentErrors(name string) []ErrorRecord {
	ent := (*e.helpers.Load())[name]
	if ent == nil {
		return nil
	}
	return ent.stats.recent.list()
}

// RefuseReload records a reload of file that its caller refused after
// Check accepted the script, or because Check did not (a daemon that
// cannot apply the new version to the kernel): it counts in the loaded
// helper's ReloadFailures and joins its recent errors. Load counts its
// own failures.
func (e *Engine) RefuseReload(file string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.countReloadFailure(file, err)
}

// liveStates returns the per-connection states of the named helper in the
// engine's current workers.
func (e *Engine) liveStates(name string) int64 {
	var n int64
	for i := range e.workers {
		n += e.workers[i].Load().liveStates(name)
	}
	return n
}

// Insert inserts e for master at once through the engine's Expecter and
// counts the outcome in the call's helper (Stats.ExpectInserted or
// ExpectRefused). It is expect.insert's Go side.
func (s *Session) Insert(master *Conn, e *Expectation) error {
	if s.expecter == nil {
		return errNoExpecter
	}
	err := s.expecter.Expect(master, e)
	s.countInsert(err, false, 0)
	return err
}

// Hunt inserts e for master at once, hunting for a free destination port
// as HuntPort does, and counts the outcome in the call's helper
// (Stats.ExpectHunted and ExpectInserted, or ExpectRefused, and
// HuntClashes for the ports another expectation held). It is
// expect.hunt's Go side.
func (s *Session) Hunt(master *Conn, e *Expectation) (uint16, error) {
	if s.expecter == nil {
		return 0, errNoExpecter
	}
	port, clashes, err := huntPort(s.expecter, master, e)
	s.countInsert(err, true, clashes)
	return port, err
}

var errNoExpecter = errors.New("this runtime cannot insert expectations at once (no expecter)")

func (s *Session) countInsert(err error, hunted bool, clashes int) {
	if s.call == nil || s.call.Helper == nil {
		return
	}
	st := s.call.Helper.stats
	st.huntClashes.Add(uint64(clashes))
	switch {
	case err != nil:
		st.expectRefused.Add(1)
	case hunted:
		st.expectInserted.Add(1)
		st.expectHunted.Add(1)
	default:
		st.expectInserted.Add(1)
	}
}
