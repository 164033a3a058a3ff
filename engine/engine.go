package engine

import (
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"os"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ctlua/ctlua/engine/tick"
)

// Config configures an Engine. The zero value is usable.
type Config struct {
	// Workers is the number of Lua states; 0 means GOMAXPROCS.
	Workers int
	// Budget bounds the run time of one callback and of a script's chunk
	// at load; 0 means DefaultBudget. It must be within
	// MinBudget..MaxBudget (CheckBudget).
	Budget time.Duration
	// Modules are the Lua modules scripts can require.
	Modules []Module
	// Conntrack answers scripts' conntrack queries; may be nil.
	Conntrack Conntrack
	// Expecter inserts expectations at once for scripts that hunt for a
	// port (expect.hunt); may be nil.
	Expecter Expecter
	// Logger receives script logs and failures; nil discards them.
	Logger *slog.Logger
	// LogRate and LogBurst bound the log records per second of each
	// helper; 0 means 20 per second with bursts of 50.
	LogRate, LogBurst float64
	// StateIdle is how long per-connection state of an idle connection is
	// kept; 0 means 30 minutes.
	StateIdle time.Duration
	// MaxStates bounds the per-connection states of each helper in each
	// worker; 0 means DefaultMaxStates.
	MaxStates int
	// StateBytes bounds the estimated bytes of each helper's
	// per-connection states, shared evenly by the workers; 0 means
	// DefaultStateBytes. Least recently used states are evicted first.
	StateBytes int
	// ConnStateBytes bounds the estimated bytes of one connection's
	// state; 0 means DefaultConnStateBytes. A call that leaves its
	// connection's state larger fails and the state is dropped.
	ConnStateBytes int
	// StuckAfter is how long a call may run, its context cancelled,
	// before its worker is abandoned and replaced by a fresh one; 0 means
	// 20 budgets, at least a second.
	StuckAfter time.Duration
}

// An Engine loads helpers and runs them on packets.
type Engine struct {
	cfg     Config
	workers []atomic.Pointer[worker]
	seed    maphash.Seed
	// epoch is the origin of the engine's monotonic clock (clock).
	epoch time.Time

	mu      sync.Mutex // serialises loads
	helpers atomic.Pointer[map[string]*entry]
	files   map[string]string // file -> helper name

	stop chan struct{}
	done chan struct{}
	// dog ticks the watchdog while a call runs (watchdog.go).
	dog *tick.Ticker
}

type entry struct {
	cur   atomic.Pointer[Helper]
	stats *counters
	limit *rateLimiter
}

// New returns an Engine with cfg's workers started.
func New(cfg Config) (*Engine, error) {
	if err := CheckBudget(cfg.Budget); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	cfg.setDefaults()
	e := &Engine{cfg: cfg, seed: maphash.MakeSeed(), files: map[string]string{},
		stop: make(chan struct{}), done: make(chan struct{}), epoch: time.Now()}
	e.dog = tick.New(e.cfg.Budget / 4)
	e.helpers.Store(&map[string]*entry{})
	e.workers = make([]atomic.Pointer[worker], cfg.Workers)
	for i := range e.workers {
		e.workers[i].Store(newWorker(e, i))
	}
	go e.watchdog()
	return e, nil
}

func (cfg *Config) setDefaults() {
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.Budget == 0 {
		cfg.Budget = DefaultBudget
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.LogRate == 0 {
		cfg.LogRate, cfg.LogBurst = 20, 50
	}
	if cfg.StateIdle <= 0 {
		cfg.StateIdle = DefaultStateIdle
	}
	if cfg.MaxStates <= 0 {
		cfg.MaxStates = DefaultMaxStates
	}
	if cfg.StateBytes <= 0 {
		cfg.StateBytes = DefaultStateBytes
	}
	if cfg.ConnStateBytes <= 0 {
		cfg.ConnStateBytes = DefaultConnStateBytes
	}
	if cfg.StuckAfter <= 0 {
		cfg.StuckAfter = max(20*cfg.Budget, minStuckAfter)
	}
}

// Close stops the engine. Handle must not be called afterwards.
func (e *Engine) Close() {
	close(e.stop)
	<-e.done
	for i := range e.workers {
		e.workers[i].Load().close()
	}
}

// clock returns the nanoseconds since the engine started, on the monotonic
// clock: a wall-clock step (NTP, a resumed VM) must not look like a call
// running past its budget. It is at least 1.
func (e *Engine) clock() int64 { return int64(time.Since(e.epoch)) + 1 }

// Budget returns the time budget of one callback.
func (e *Engine) Budget() time.Duration { return e.cfg.Budget }

// StuckAfter returns how long a call may run before its worker is
// abandoned.
func (e *Engine) StuckAfter() time.Duration { return e.cfg.StuckAfter }

// abandon replaces a worker whose call does not return: the connections
// sharded to it are served by a fresh worker (fresh Lua states, empty
// per-connection states) and the stuck call's decision, if it ever comes,
// is the default verdict.
func (e *Engine) abandon(i int, w *worker) {
	if !w.abandoned.CompareAndSwap(false, true) {
		return
	}
	w.wmu.Lock()
	if in := w.running; in != nil && in.h != nil {
		in.h.stats.abandoned.Add(1)
		e.cfg.Logger.Error("a call did not return long after its budget: its worker is abandoned and replaced",
			"helper", in.h.Spec.Name, "worker", i, "stuck_after", e.cfg.StuckAfter)
	}
	w.wmu.Unlock()
	e.workers[i].CompareAndSwap(w, newWorker(e, i))
	close(w.gone)
}

// Workers returns the number of workers.
func (e *Engine) Workers() int { return len(e.workers) }

// Shard returns the worker that handles c's packets. Callers that run
// Handle from several goroutines should use it to keep one connection's
// packets on one goroutine, in order.
func (e *Engine) Shard(c *Conn) int {
	if c.ID != 0 {
		return int(c.ID % uint32(len(e.workers)))
	}
	var h maphash.Hash
	h.SetSeed(e.seed)
	b := c.Orig.Src.As16()
	h.Write(b[:])
	b = c.Orig.Dst.As16()
	h.Write(b[:])
	h.WriteByte(c.Orig.Proto)
	h.WriteByte(byte(c.Orig.SrcPort))
	h.WriteByte(byte(c.Orig.SrcPort >> 8))
	return int(h.Sum64() % uint64(len(e.workers)))
}

// Handle runs helper name on one packet of connection c and returns the
// decision. It always returns a decision: for an unknown helper, the
// packet is accepted and Err says why. A packet the helper declared it
// does not need (payload_only, match, lines) is accepted without running
// it (Stats.Skipped).
func (e *Engine) Handle(name string, p *Packet, c *Conn) Decision {
	d := Decision{Verdict: Accept}
	ent := (*e.helpers.Load())[name]
	if ent == nil {
		d.Err = fmt.Errorf("engine: helper %q: %w", name, ErrNotFound)
		return d
	}
	h := ent.cur.Load()
	if h.skip(p) {
		return d
	}
	i := e.Shard(c)
	for {
		if d, ok := e.workers[i].Load().handle(h, p, c); ok {
			return d
		}
		// The worker was abandoned while the packet waited: its
		// replacement takes it.
	}
}

// Skip reports whether Handle would accept p at once, without running
// the named helper: p has no payload and the helper declared
// payload_only, or the helper's match does not name p's payload (and the
// engine does not track p's lines, which needs every segment). It counts
// p as skipped when so.
func (e *Engine) Skip(name string, p *Packet) bool {
	ent := (*e.helpers.Load())[name]
	return ent != nil && ent.cur.Load().skip(p)
}

// Forget drops the per-connection state of a connection that ended. It
// does not wait for a busy worker: that worker drops the state before its
// next packet.
func (e *Engine) Forget(k ConnKey) {
	for i := range e.workers {
		e.workers[i].Load().forget(k)
	}
}

// Helper returns the running version of the named helper, or nil.
func (e *Engine) Helper(name string) *Helper {
	if ent := (*e.helpers.Load())[name]; ent != nil {
		return ent.cur.Load()
	}
	return nil
}

// Helpers returns the running helpers, sorted by name.
func (e *Engine) Helpers() []*Helper {
	m := *e.helpers.Load()
	hs := make([]*Helper, 0, len(m))
	for _, ent := range m {
		hs = append(hs, ent.cur.Load())
	}
	sort.Slice(hs, func(i, j int) bool { return hs[i].Spec.Name < hs[j].Spec.Name })
	return hs
}

// Stats returns the counters of the named helper.
func (e *Engine) Stats(name string) (Stats, error) {
	ent := (*e.helpers.Load())[name]
	if ent == nil {
		return Stats{}, fmt.Errorf("engine: helper %q: %w", name, ErrNotFound)
	}
	st := ent.stats.snapshot()
	st.States = e.liveStates(name)
	return st, nil
}

// LoadFile reads a script and loads it like Load.
func (e *Engine) LoadFile(path string, ov *Overrides) (*Helper, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		err = fmt.Errorf("engine: load: %w", err)
		e.mu.Lock()
		e.countReloadFailure(path, err)
		e.mu.Unlock()
		return nil, err
	}
	return e.Load(path, src, ov)
}

// Load compiles and validates a helper script and makes it the running
// version of the helper it declares, atomically between packets. When the
// script fails, the running version (if any) stays and the error says
// why; validation errors are *DeclError values joined with errors.Join.
func (e *Engine) Load(file string, src []byte, ov *Overrides) (*Helper, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	h, err := e.check(file, src, ov)
	if err == nil {
		err = e.prepare(h)
	}
	if err != nil {
		e.countReloadFailure(file, err)
		return nil, err
	}
	name := h.Spec.Name
	if prev, ok := e.files[file]; ok && prev != name {
		err := &DeclError{File: file, Field: "name",
			Msg: fmt.Sprintf("changed from %q to %q: a reload cannot rename a helper", prev, name)}
		e.countReloadFailure(file, err)
		return nil, err
	}
	old := *e.helpers.Load()
	ent := old[name]
	if ent != nil {
		if cur := ent.cur.Load(); cur.File != file {
			return nil, &DeclError{File: file, Field: "name",
				Msg: fmt.Sprintf("helper %q is already loaded from %s", name, cur.File)}
		}
		h.Version = ent.cur.Load().Version + 1
		h.Loaded = time.Now()
		h.stats, h.limit = ent.stats, ent.limit
		ent.stats.reloads.Add(1)
		ent.cur.Store(h)
		return h, nil
	}
	ent = &entry{stats: &counters{}, limit: newRateLimiter(e.cfg.LogRate, e.cfg.LogBurst)}
	h.Version, h.Loaded = 1, time.Now()
	h.stats, h.limit = ent.stats, ent.limit
	ent.cur.Store(h)
	next := make(map[string]*entry, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[name] = ent
	e.helpers.Store(&next)
	e.files[file] = name
	return h, nil
}

// countReloadFailure counts a failed load of file in the helper loaded
// from it, if any, and keeps err among its recent errors. e.mu is held.
func (e *Engine) countReloadFailure(file string, err error) {
	if name, ok := e.files[file]; ok {
		if ent := (*e.helpers.Load())[name]; ent != nil {
			ent.stats.reloadFailures.Add(1)
			ent.stats.recent.addError(err)
		}
	}
}

// Unload removes a helper. Packets for it are accepted afterwards.
func (e *Engine) Unload(name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	old := *e.helpers.Load()
	ent, ok := old[name]
	if !ok {
		return fmt.Errorf("engine: helper %q: %w", name, ErrNotFound)
	}
	next := make(map[string]*entry, len(old))
	for k, v := range old {
		if k != name {
			next[k] = v
		}
	}
	e.helpers.Store(&next)
	delete(e.files, ent.cur.Load().File)
	return nil
}

// Check compiles and validates a script without loading it, with the
// same bounds as Load: the script's chunk must run within the budget.
func (e *Engine) Check(file string, src []byte, ov *Overrides) (*Helper, error) {
	h, err := e.check(file, src, ov)
	if err != nil {
		return nil, err
	}
	if in := h.claim(0); in != nil {
		in.close()
	}
	return h, nil
}

// check compiles a script, runs its chunk in a fresh sandbox and validates
// the declaration. The sandbox is kept as the instance of worker 0.
func (e *Engine) check(file string, src []byte, ov *Overrides) (*Helper, error) {
	proto, chunk, err := compile(file, src)
	if err != nil {
		return nil, err
	}
	in, err := e.newInstance(nil, file, proto)
	if err != nil {
		var se *ScriptError
		if errors.As(err, &se) {
			return nil, &DeclError{File: se.File, Line: se.Line, Msg: se.Msg}
		}
		return nil, err
	}
	spec, err := declaration(findDeclLines(file, chunk), in.decl, ov)
	if err != nil {
		in.close()
		return nil, err
	}
	h := &Helper{Spec: spec, File: file, Hash: hashSource(src), proto: proto,
		stats: &counters{}, limit: newRateLimiter(e.cfg.LogRate, e.cfg.LogBurst)}
	in.h = h
	h.prepared = make([]atomic.Pointer[instance], len(e.workers))
	h.prepared[0].Store(in)
	return h, nil
}

// prepare runs h's chunk in a sandbox for every worker but the first
// (which check prepared), so that a version whose chunk fails or is too
// slow in any of them is refused before it runs, and no worker pays for
// the chunk on a packet.
func (e *Engine) prepare(h *Helper) error {
	for i := 1; i < len(h.prepared); i++ {
		in, err := e.newInstance(h, h.File, h.proto)
		if err != nil {
			for j := range h.prepared {
				if in := h.prepared[j].Swap(nil); in != nil {
					in.close()
				}
			}
			var se *ScriptError
			if errors.As(err, &se) {
				return &DeclError{File: se.File, Line: se.Line, Msg: se.Msg}
			}
			return err
		}
		h.prepared[i].Store(in)
	}
	return nil
}
