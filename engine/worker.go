package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// A worker runs the packets of the connections sharded to it. Each helper
// has its own instance (Lua state) and state table in each worker. Its
// semaphore serialises the packets handed to it.
type worker struct {
	e     *Engine
	index int
	// sem is held while a packet runs. A caller waiting for it gives up
	// when gone is closed: the worker was abandoned, the caller goes to
	// its replacement.
	sem   chan struct{}
	gone  chan struct{}
	slots map[string]*slot
	calls int
	// dec is the decision of the running call.
	dec Decision
	// abandoned is set when the watchdog replaced the worker.
	abandoned atomic.Bool

	// wmu guards the watchdog's view of the running call: start is the
	// engine clock when the call began (0 when idle, minus the clock when
	// the watchdog stopped it) and running the instance whose context
	// stops it.
	wmu     sync.Mutex
	start   int64
	running *instance

	// forgotten holds the connections to forget that arrived while the
	// worker was busy; the worker drops their state before its next
	// packet.
	fmu       sync.Mutex
	forgotten []ConnKey
	nForgot   atomic.Int32 // len(forgotten), read without fmu

	// tables are the slots' state tables by helper name, for the
	// counters: slots belongs to the goroutine holding the worker, tables
	// to tmu.
	tmu    sync.Mutex
	tables map[string]*stateTable
}

// A slot is one helper in one worker: its running instance and the
// per-connection states that outlive versions.
type slot struct {
	in     *instance
	states *stateTable
}

func newWorker(e *Engine, index int) *worker {
	return &worker{e: e, index: index, slots: map[string]*slot{}, tables: map[string]*stateTable{},
		sem: make(chan struct{}, 1), gone: make(chan struct{})}
}

// liveStates returns how many per-connection states the worker holds for
// the named helper.
func (w *worker) liveStates(name string) int64 {
	w.tmu.Lock()
	t := w.tables[name]
	w.tmu.Unlock()
	if t == nil {
		return 0
	}
	return t.live.Load()
}

// lock takes the worker, or returns false once it is abandoned.
func (w *worker) lock() bool {
	select {
	case w.sem <- struct{}{}:
		return true
	default:
	}
	select {
	case w.sem <- struct{}{}:
		return true
	case <-w.gone:
		return false
	}
}

func (w *worker) tryLock() bool {
	select {
	case w.sem <- struct{}{}:
		return true
	default:
		return false
	}
}

func (w *worker) unlock() { <-w.sem }

// close closes the worker's sandboxes. A worker whose call is stuck is
// left to the garbage collector: closing must not wait for it.
func (w *worker) close() {
	if !w.tryLock() {
		return
	}
	defer w.unlock()
	for _, sl := range w.slots {
		if sl.in != nil {
			sl.in.close()
		}
	}
}

// pcall runs a protected call in in's state under the time budget. It
// reports whether the watchdog stopped it.
func (w *worker) pcall(in *instance, nargs, nret int) (err error, timedOut bool) {
	w.wmu.Lock()
	w.start, w.running = w.e.clock(), in
	w.wmu.Unlock()
	w.e.dog.Wake()
	err = in.sb.L.PCall(nargs, nret, nil)
	w.wmu.Lock()
	stopped := w.start < 0
	w.start, w.running = 0, nil
	if stopped {
		// The watchdog cancelled this call's context: renew it, under
		// wmu, so that the watchdog never cancels the next call.
		in.renewContext()
	}
	w.wmu.Unlock()
	return err, stopped && err != nil
}

// expire is called by the watchdog: it stops the running call if it has
// run longer than budget, and reports whether a call has run longer than
// stuck (its Go code does not return: the worker must be abandoned), and
// whether a call is running (or was stopped and has not returned).
func (w *worker) expire(now int64, budget, stuck time.Duration) (isStuck, busy bool) {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	switch {
	case w.start > 0 && now-w.start > int64(budget):
		w.start = -now // remember when it was stopped
		w.running.cancel()
	case w.start < -1 && now+w.start > int64(stuck):
		return true, true
	}
	return false, w.start != 0
}

// slot returns h's slot, with the instance of h's version: the one the
// load prepared for this worker, or one built now.
func (w *worker) slot(h *Helper) *slot {
	sl := w.slots[h.Spec.Name]
	if sl == nil {
		cfg := &w.e.cfg
		st := h.stats
		sl = &slot{states: newStateTable(cfg.StateBytes/len(w.e.workers), cfg.MaxStates, cfg.StateIdle,
			func() { st.stateEvictions.Add(1) })}
		w.slots[h.Spec.Name] = sl
		w.tmu.Lock()
		w.tables[h.Spec.Name] = sl.states
		w.tmu.Unlock()
	}
	if sl.in != nil && sl.in.h == h {
		return sl
	}
	if sl.in != nil {
		sl.in.close()
	}
	in := h.claim(w.index)
	if in == nil {
		var err error
		if in, err = w.e.newInstance(h, h.File, h.proto); err != nil {
			in = failedInstance(h, err)
		}
		in.h = h
	}
	sl.in = in
	return sl
}

// handle runs h's on_packet for one packet and returns its decision. It
// returns false, without running anything, when the worker was abandoned
// while the packet waited for it. The decision is built in the worker's
// own (the call's module functions keep a pointer to it), so that a
// packet costs no allocation.
func (w *worker) handle(h *Helper, p *Packet, c *Conn) (Decision, bool) {
	t0 := w.e.clock()
	if !w.lock() {
		return Decision{}, false
	}
	defer w.unlock()
	w.dec = Decision{Verdict: Accept}
	w.run(h, p, c, &w.dec, t0)
	w.dec.Took = time.Duration(w.e.clock() - t0)
	h.stats.latency.observe(w.dec.Took)
	d := w.dec
	w.dec = Decision{}
	return d, true
}

// run runs h's on_packet with the worker held; now is the engine clock.
func (w *worker) run(h *Helper, p *Packet, c *Conn, d *Decision, now int64) {
	w.dropForgotten()
	st := h.stats
	sl := w.slot(h)
	run, pos, lines := w.admit(sl, h, p, c, now)
	if !run {
		st.skipped.Add(1)
		endLine(lines, p, d)
		return
	}
	st.packets.Add(1)
	defer endLine(lines, p, d)
	in := sl.in
	if in.err != nil {
		w.fail(h, in.err, d)
		return
	}
	in.call = Call{Helper: h, Packet: p, Conn: c, Decision: d, Private: c.Private, Line: pos, w: w, slot: sl}
	in.sb.sess.call = &in.call
	in.pktUD.Value, in.connUD.Value = p, c
	L := in.sb.L
	L.Push(in.onPacket)
	L.Push(in.pktUD)
	L.Push(in.connUD)
	err, timedOut := w.pcall(in, 2, 1)
	in.sb.sess.call = nil
	in.pktUD.Value, in.connUD.Value = nil, nil
	ret := lua.LValue(lua.LNil)
	if err == nil {
		ret = L.Get(-1)
		L.Pop(1)
	}
	if w.abandoned.Load() {
		w.fail(h, &ScriptError{Helper: h.Spec.Name, Kind: KindAbandoned, File: h.File,
			Msg: "the call did not return long after its budget; its worker was replaced"}, d)
		return
	}
	if se := w.account(sl, h, in); se != nil && err == nil {
		w.fail(h, se, d)
		return
	}
	if err != nil {
		se := scriptError(h.Spec.Name, h.File, KindRuntime, err)
		if timedOut {
			se.Kind = KindTimeout
			se.Msg = fmt.Sprintf("on_packet ran past its time budget (%s): %s", w.e.cfg.Budget, se.Msg)
		}
		w.fail(h, se, d)
		return
	}
	w.verdict(h, in, ret, d)
	if w.calls++; w.calls&63 == 0 {
		sl.states.expire(w.e.clock())
	}
}

// verdict reads on_packet's return value into d.
func (w *worker) verdict(h *Helper, in *instance, ret lua.LValue, d *Decision) {
	switch ret {
	case lua.LNil, lua.LString("accept"):
		d.Verdict = Accept
	case lua.LString("drop"):
		d.Verdict = Drop
	default:
		w.fail(h, &ScriptError{Helper: h.Spec.Name, Kind: KindBadReturn, File: h.File,
			Line: in.onPacket.Proto.LineDefined,
			Msg:  fmt.Sprintf("on_packet returned %s %q: want \"accept\", \"drop\" or nil", ret.Type(), truncate(ret.String()))}, d)
		return
	}
	st := h.stats
	if d.Verdict == Accept {
		st.accepted.Add(1)
	} else {
		st.dropped.Add(1)
	}
	st.expectations.Add(uint64(len(d.Expectations)))
	if d.Packet != nil {
		st.mangled.Add(1)
	}
}

// fail applies the default verdict and discards the call's partial effects.
func (w *worker) fail(h *Helper, se *ScriptError, d *Decision) {
	st := h.stats
	st.errors.Add(1)
	switch se.Kind {
	case KindTimeout:
		st.timeouts.Add(1)
	case KindBadReturn:
		st.badReturns.Add(1)
	case KindLoad:
		st.loadErrors.Add(1)
	case KindLimit:
		st.limits.Add(1)
	}
	d.Verdict = h.Spec.DefaultVerdict
	d.Expectations, d.Packet, d.Update = nil, nil, CTUpdate{}
	d.Err = se
	st.recent.addScript(se)
	if d.Verdict == Accept {
		st.accepted.Add(1)
	} else {
		st.dropped.Add(1)
	}
	if h.limit.allow(time.Now()) {
		w.e.cfg.Logger.Error("script failed, default verdict applied",
			"helper", h.Spec.Name, "at", se.Location(), "kind", se.Kind.String(),
			"error", se.Msg, "verdict", d.Verdict.String())
	} else {
		st.logsSuppressed.Add(1)
	}
}

// forget drops k's state at once if the worker is idle, or before its
// next packet.
func (w *worker) forget(k ConnKey) {
	if w.tryLock() {
		for _, sl := range w.slots {
			sl.states.forget(k)
		}
		w.unlock()
		return
	}
	w.fmu.Lock()
	if len(w.forgotten) < maxForgotten {
		w.forgotten = append(w.forgotten, k)
		w.nForgot.Store(int32(len(w.forgotten)))
	}
	w.fmu.Unlock()
}

// maxForgotten bounds the connections waiting to be forgotten by a busy
// worker; past it, their states expire like idle ones.
const maxForgotten = 1 << 16

func (w *worker) dropForgotten() {
	if w.nForgot.Load() == 0 {
		return
	}
	w.fmu.Lock()
	ks := w.forgotten
	w.forgotten = nil
	w.nForgot.Store(0)
	w.fmu.Unlock()
	for _, k := range ks {
		for _, sl := range w.slots {
			sl.states.forget(k)
		}
	}
}

// ErrNoCall is the error of module functions used outside on_packet.
var ErrNoCall = errors.New("only valid while on_packet runs")

func (e *Engine) log(c *Call, level slog.Level, msg string, attrs []slog.Attr) {
	d := c.Decision
	if len(d.Logs) < maxLogsPerPacket {
		d.Logs = append(d.Logs, LogRecord{Level: level, Message: msg, Attrs: attrs})
	}
	if !e.cfg.Logger.Enabled(context.Background(), level) {
		return
	}
	h := c.Helper
	if !h.limit.allow(time.Now()) {
		h.stats.logsSuppressed.Add(1)
		return
	}
	all := make([]slog.Attr, 0, len(attrs)+4)
	all = append(all, slog.String("helper", h.Spec.Name), slog.Uint64("conn", uint64(c.Conn.ID)),
		slog.String("tuple", c.Conn.Orig.String()))
	if at := c.where(); at != "" {
		all = append(all, slog.String("at", at))
	}
	all = append(all, attrs...)
	e.cfg.Logger.LogAttrs(context.Background(), level, msg, all...)
}

const maxLogsPerPacket = 32

// where returns the file:line of the script code that called the module
// function running now (the innermost Lua frame), or "".
func (c *Call) where() string {
	if c.slot == nil || c.slot.in == nil {
		return ""
	}
	L := c.slot.in.sb.L
	for level := 0; level < 4; level++ {
		dbg, ok := L.GetStack(level)
		if !ok {
			return ""
		}
		if _, err := L.GetInfo("Sl", dbg, lua.LNil); err == nil && dbg.CurrentLine > 0 {
			return fmt.Sprintf("%s:%d", dbg.Source, dbg.CurrentLine)
		}
	}
	return ""
}
