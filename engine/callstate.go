package engine

import (
	"fmt"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// state returns the per-connection table of the call's connection. A state
// kept from an older version of the helper is copied into this version's
// sandbox (data only) and handed to on_reload.
//
// The on_reload policy: when on_reload raises an error, runs past the
// budget, or the old state is over the per-connection bound, the
// connection's state is reset to an empty table, the reset is counted
// (Stats.StateResets) and logged, and the packet goes on to on_packet with
// the empty state. A reset is never silent and never leaves a connection
// on unmigrated state.
func (w *worker) state(L *lua.LState, c *Call) *lua.LTable {
	h, states := c.Helper, c.slot.states
	k := c.Conn.Key()
	now := w.e.clock()
	cs := states.get(k, now)
	if cs == nil {
		cs = states.add(k, L.NewTable(), h.Version, now)
	}
	states.touched = cs
	if cs.tbl == nil { // added for line tracking
		cs.tbl, cs.version = L.NewTable(), h.Version
	}
	if cs.version != h.Version {
		cs.version = h.Version
		cs.tbl = w.migrate(L, c, cs.tbl)
	}
	return cs.tbl
}

// migrate copies old into L and runs on_reload on the copy.
func (w *worker) migrate(L *lua.LState, c *Call, old *lua.LTable) *lua.LTable {
	h := c.Helper
	limit := w.e.cfg.ConnStateBytes
	v, ok := copyData(L, old, limit)
	if !ok {
		w.resetState(h, &ScriptError{Helper: h.Spec.Name, Kind: KindLimit, File: h.File,
			Msg: fmt.Sprintf("old connection state is over %d bytes", limit)})
		return L.NewTable()
	}
	in := c.slot.in
	if in.onReload == nil {
		return v.(*lua.LTable)
	}
	top := L.GetTop()
	L.Push(in.onReload)
	L.Push(v)
	if err := L.PCall(1, 1, nil); err != nil {
		L.SetTop(top)
		w.resetState(h, scriptError(h.Spec.Name, h.File, KindRuntime, err))
		return L.NewTable()
	}
	ret := L.Get(-1)
	L.SetTop(top)
	if t, ok := ret.(*lua.LTable); ok {
		return t
	}
	return v.(*lua.LTable)
}

func (w *worker) resetState(h *Helper, se *ScriptError) {
	h.stats.stateResets.Add(1)
	h.stats.recent.addScript(se)
	if h.limit.allow(time.Now()) {
		w.e.cfg.Logger.Error("on_reload failed: the connection's state is reset to an empty table",
			"helper", h.Spec.Name, "at", se.Location(), "error", se.Msg)
	} else {
		h.stats.logsSuppressed.Add(1)
	}
}

// account measures the state the call used. A state over the
// per-connection bound is dropped and fails the call; the table's byte
// bound evicts least recently used states.
func (w *worker) account(sl *slot, h *Helper, in *instance) *ScriptError {
	states := sl.states
	cs := states.touched
	if cs == nil {
		return nil
	}
	limit := w.e.cfg.ConnStateBytes
	n := states.size.sizeOf(cs.tbl, limit)
	if n > limit {
		states.touched = nil
		states.remove(cs)
		return &ScriptError{Helper: h.Spec.Name, Kind: KindLimit, File: h.File, Line: in.onPacket.Proto.LineDefined,
			Msg: fmt.Sprintf("connection state is over %d bytes: state dropped", limit)}
	}
	states.resize(cs, n)
	states.touched = nil
	return nil
}
