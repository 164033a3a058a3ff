package engine

import (
	"context"
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
)

// Config configures an Engine. The zero value is usable.
type Config struct {
	// Workers is the number of Lua states; 0 means GOMAXPROCS.
	Workers int
	// Budget bounds the run time of one callback; 0 means 50ms.
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
	// MaxStates bounds the per-connection states of each worker; 0 means
	// 65536.
	MaxStates int
}

// An Engine loads helpers and runs them on packets.
type Engine struct {
	cfg     Config
	workers []*worker
	seed    maphash.Seed

	mu      sync.Mutex // serialises loads
	helpers atomic.Pointer[map[string]*entry]
	files   map[string]string // file -> helper name

	stop chan struct{}
	done chan struct{}
}

type entry struct {
	cur   atomic.Pointer[Helper]
	stats *counters
	limit *rateLimiter
}

// New returns an Engine with cfg's workers started.
func New(cfg Config) (*Engine, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.Budget <= 0 {
		cfg.Budget = 50 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.LogRate == 0 {
		cfg.LogRate, cfg.LogBurst = 20, 50
	}
	if cfg.StateIdle <= 0 {
		cfg.StateIdle = 30 * time.Minute
	}
	if cfg.MaxStates <= 0 {
		cfg.MaxStates = 65536
	}
	e := &Engine{cfg: cfg, seed: maphash.MakeSeed(), files: map[string]string{},
		stop: make(chan struct{}), done: make(chan struct{})}
	e.helpers.Store(&map[string]*entry{})
	for range cfg.Workers {
		w, err := newWorker(e)
		if err != nil {
			e.closeWorkers()
			return nil, fmt.Errorf("engine: worker: %w", err)
		}
		e.workers = append(e.workers, w)
	}
	go e.watchdog()
	return e, nil
}

// Close stops the engine. Handle must not be called afterwards.
func (e *Engine) Close() {
	close(e.stop)
	<-e.done
	e.closeWorkers()
}

func (e *Engine) closeWorkers() {
	for _, w := range e.workers {
		w.close()
	}
}

// watchdog stops callbacks that run past the budget. It checks every
// quarter budget, so a runaway call is stopped within 1.25 budgets.
func (e *Engine) watchdog() {
	defer close(e.done)
	t := time.NewTicker(e.cfg.Budget / 4)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case now := <-t.C:
			for _, w := range e.workers {
				w.expire(now.UnixNano(), e.cfg.Budget)
			}
		}
	}
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
// packet is accepted and Err says why.
func (e *Engine) Handle(name string, p *Packet, c *Conn) Decision {
	d := Decision{Verdict: Accept}
	ent := (*e.helpers.Load())[name]
	if ent == nil {
		d.Err = fmt.Errorf("engine: helper %q: %w", name, ErrNotFound)
		return d
	}
	e.workers[e.Shard(c)].handle(ent.cur.Load(), p, c, &d)
	return d
}

// Forget drops the per-connection state of a connection that ended.
func (e *Engine) Forget(k ConnKey) {
	for _, w := range e.workers {
		w.forget(k)
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
	return ent.stats.snapshot(), nil
}

// LoadFile reads a script and loads it like Load.
func (e *Engine) LoadFile(path string, ov *Overrides) (*Helper, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		e.countReloadFailure(path)
		return nil, fmt.Errorf("engine: load: %w", err)
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
	if err != nil {
		e.countReloadFailure(file)
		return nil, err
	}
	name := h.Spec.Name
	if prev, ok := e.files[file]; ok && prev != name {
		e.countReloadFailure(file)
		return nil, &DeclError{File: file, Field: "name",
			Msg: fmt.Sprintf("changed from %q to %q: a reload cannot rename a helper", prev, name)}
	}
	old := *e.helpers.Load()
	ent := old[name]
	if ent != nil {
		if cur := ent.cur.Load(); cur.File != file {
			return nil, &DeclError{File: file, Field: "name",
				Msg: fmt.Sprintf("helper %q is already loaded from %s", name, cur.File)}
		}
		h.Version = ent.cur.Load().Version + 1
		h.stats, h.limit = ent.stats, ent.limit
		ent.stats.reloads.Add(1)
		ent.cur.Store(h)
		return h, nil
	}
	ent = &entry{stats: &counters{}, limit: newRateLimiter(e.cfg.LogRate, e.cfg.LogBurst)}
	h.Version = 1
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

func (e *Engine) countReloadFailure(file string) {
	if name, ok := e.files[file]; ok {
		if ent := (*e.helpers.Load())[name]; ent != nil {
			ent.stats.reloadFailures.Add(1)
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

// Check compiles and validates a script without loading it.
func (e *Engine) Check(file string, src []byte, ov *Overrides) (*Helper, error) {
	return e.check(file, src, ov)
}

func (e *Engine) check(file string, src []byte, ov *Overrides) (*Helper, error) {
	proto, chunk, err := compile(file, src)
	if err != nil {
		return nil, err
	}
	L, err := newSandbox(e.cfg.Modules, &Session{conntrack: e.cfg.Conntrack})
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	defer L.Close()
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.Budget*10)
	defer cancel()
	L.SetContext(ctx)
	fn := L.NewFunctionFromProto(proto)
	fn.Env = newEnv(L)
	L.Push(fn)
	if err := L.PCall(0, 1, nil); err != nil {
		se := scriptError("", file, KindLoad, err)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			se.Msg = "script chunk ran past its time budget: " + se.Msg
		}
		return nil, &DeclError{File: se.File, Line: se.Line, Msg: se.Msg}
	}
	spec, err := declaration(findDeclLines(file, chunk), L.Get(-1), ov)
	if err != nil {
		return nil, err
	}
	return &Helper{Spec: spec, File: file, Hash: hashSource(src), proto: proto,
		stats: &counters{}, limit: newRateLimiter(e.cfg.LogRate, e.cfg.LogBurst)}, nil
}
