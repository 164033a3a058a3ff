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

// A worker owns one Lua state. Its mutex serialises the packets handed to
// it; the engine spreads connections over workers.
type worker struct {
	e  *Engine
	mu sync.Mutex
	L  *lua.LState

	sess          Session
	call          Call
	pktUD, connUD *lua.LUserData

	inst   map[string]*instance
	states map[stateKey]*connState
	calls  int

	ctx    context.Context
	cancel context.CancelFunc
	// start is the time the running call began (UnixNano), 0 when idle
	// and -1 once the watchdog stopped the call.
	start atomic.Int64
}

// instance is one helper version instantiated in a worker's state.
type instance struct {
	h                  *Helper
	onPacket, onReload *lua.LFunction
	err                *ScriptError
}

type stateKey struct {
	helper string
	conn   ConnKey
}

type connState struct {
	tbl     *lua.LTable
	version uint64
	used    int64
}

func newWorker(e *Engine) (*worker, error) {
	w := &worker{e: e, inst: map[string]*instance{}, states: map[stateKey]*connState{}}
	w.sess.conntrack = e.cfg.Conntrack
	w.sess.expecter = e.cfg.Expecter
	L, err := newSandbox(e.cfg.Modules, &w.sess)
	if err != nil {
		return nil, err
	}
	w.L = L
	w.pktUD = L.NewUserData()
	L.SetMetatable(w.pktUD, L.GetTypeMetatable(PacketType))
	w.connUD = L.NewUserData()
	L.SetMetatable(w.connUD, L.GetTypeMetatable(ConnType))
	w.renewContext()
	return w, nil
}

func (w *worker) renewContext() {
	if w.cancel != nil {
		w.cancel()
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	w.L.SetContext(w.ctx)
}

func (w *worker) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cancel()
	w.L.Close()
}

// pcall runs a protected call under the time budget. It reports whether
// the watchdog stopped it.
func (w *worker) pcall(nargs, nret int) (err error, timedOut bool) {
	st := time.Now().UnixNano()
	w.start.Store(st)
	err = w.L.PCall(nargs, nret, nil)
	if w.start.CompareAndSwap(st, 0) {
		return err, false
	}
	// The watchdog cancelled our context: give the state a fresh one.
	w.renewContext()
	w.start.Store(0)
	return err, err != nil
}

// expire is called by the watchdog: it stops the running call if it has
// run longer than budget.
func (w *worker) expire(now int64, budget time.Duration) {
	st := w.start.Load()
	if st > 0 && now-st > int64(budget) && w.start.CompareAndSwap(st, -1) {
		w.cancel()
	}
}

// instance returns the worker's instance of h, running the script's chunk
// in this state when the version changed.
func (w *worker) instance(h *Helper) *instance {
	in := w.inst[h.Spec.Name]
	if in != nil && in.h == h {
		return in
	}
	in = &instance{h: h}
	w.inst[h.Spec.Name] = in
	L := w.L
	fn := L.NewFunctionFromProto(h.proto)
	fn.Env = newEnv(L)
	L.Push(fn)
	err, timedOut := w.pcall(0, 1)
	if err != nil {
		kind := KindLoad
		if timedOut {
			kind = KindTimeout
		}
		in.err = scriptError(h.Spec.Name, h.File, kind, err)
		return in
	}
	decl, _ := L.Get(-1).(*lua.LTable)
	L.Pop(1)
	if decl != nil {
		in.onPacket, _ = decl.RawGetString("on_packet").(*lua.LFunction)
		in.onReload, _ = decl.RawGetString("on_reload").(*lua.LFunction)
	}
	if in.onPacket == nil {
		in.err = &ScriptError{Helper: h.Spec.Name, Kind: KindLoad, File: h.File,
			Msg: "script did not return a declaration with on_packet in this worker"}
	}
	return in
}

// handle runs h's on_packet for one packet and fills d.
func (w *worker) handle(h *Helper, p *Packet, c *Conn, d *Decision) {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := h.stats
	st.packets.Add(1)
	in := w.instance(h)
	if in.err != nil {
		w.fail(h, in.err, d)
		return
	}
	w.call = Call{Helper: h, Packet: p, Conn: c, Decision: d, Private: c.Private, w: w}
	w.sess.call = &w.call
	w.pktUD.Value, w.connUD.Value = p, c
	L := w.L
	L.Push(in.onPacket)
	L.Push(w.pktUD)
	L.Push(w.connUD)
	err, timedOut := w.pcall(2, 1)
	w.sess.call = nil
	w.pktUD.Value, w.connUD.Value = nil, nil
	if err != nil {
		kind := KindRuntime
		if timedOut {
			kind = KindTimeout
		}
		w.fail(h, scriptError(h.Spec.Name, h.File, kind, err), d)
		return
	}
	ret := L.Get(-1)
	L.Pop(1)
	switch ret {
	case lua.LNil, lua.LString("accept"):
		d.Verdict = Accept
	case lua.LString("drop"):
		d.Verdict = Drop
	default:
		w.fail(h, &ScriptError{Helper: h.Spec.Name, Kind: KindBadReturn, File: h.File,
			Line: in.onPacket.Proto.LineDefined,
			Msg:  fmt.Sprintf("on_packet returned %s %q: want \"accept\", \"drop\" or nil", ret.Type(), ret.String())}, d)
		return
	}
	if d.Verdict == Accept {
		st.accepted.Add(1)
	} else {
		st.dropped.Add(1)
	}
	st.expectations.Add(uint64(len(d.Expectations)))
	if d.Packet != nil {
		st.mangled.Add(1)
	}
	if w.calls++; w.calls&1023 == 0 {
		w.sweep()
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
	}
	d.Verdict = h.Spec.DefaultVerdict
	d.Expectations, d.Packet, d.Update = nil, nil, CTUpdate{}
	d.Err = se
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

// state returns the per-connection table of the call's connection.
func (w *worker) state(L *lua.LState, c *Call) *lua.LTable {
	h := c.Helper
	k := stateKey{helper: h.Spec.Name, conn: c.Conn.Key()}
	now := time.Now().UnixNano()
	cs := w.states[k]
	if cs == nil {
		if len(w.states) >= w.e.cfg.MaxStates {
			w.sweep()
			for k := range w.states { // still full: evict one
				if len(w.states) < w.e.cfg.MaxStates {
					break
				}
				delete(w.states, k)
			}
		}
		cs = &connState{tbl: L.NewTable(), version: h.Version}
		w.states[k] = cs
	}
	cs.used = now
	if cs.version != h.Version {
		cs.version = h.Version
		if in := w.inst[h.Spec.Name]; in != nil && in.onReload != nil {
			L.Push(in.onReload)
			L.Push(cs.tbl)
			L.Call(1, 1) // errors propagate to on_packet's protected call
			if t, ok := L.Get(-1).(*lua.LTable); ok {
				cs.tbl = t
			}
			L.Pop(1)
		}
	}
	return cs.tbl
}

// sweep drops the state of connections idle for longer than StateIdle.
func (w *worker) sweep() {
	cutoff := time.Now().Add(-w.e.cfg.StateIdle).UnixNano()
	for k, cs := range w.states {
		if cs.used < cutoff {
			delete(w.states, k)
		}
	}
}

func (w *worker) forget(k ConnKey) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for sk := range w.states {
		if sk.conn == k {
			delete(w.states, sk)
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
	all := make([]slog.Attr, 0, len(attrs)+3)
	all = append(all, slog.String("helper", h.Spec.Name), slog.Uint64("conn", uint64(c.Conn.ID)),
		slog.String("tuple", c.Conn.Orig.String()))
	all = append(all, attrs...)
	e.cfg.Logger.LogAttrs(context.Background(), level, msg, all...)
}

const maxLogsPerPacket = 32
