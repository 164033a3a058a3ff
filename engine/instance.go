package engine

import (
	"context"
	"errors"
	"fmt"

	lua "github.com/yuin/gopher-lua"
)

// An instance is one helper version ready to run in its own sandbox: the
// script's chunk has run there and returned its declaration. One worker
// owns it.
type instance struct {
	h    *Helper
	sb   *sandbox
	decl lua.LValue
	// err is set when the chunk failed in this sandbox; the instance
	// then only answers with the default verdict.
	err *ScriptError

	onPacket, onReload *lua.LFunction
	pktUD, connUD      *lua.LUserData
	call               Call

	// ctx is the context of the calls; the watchdog cancels it to stop
	// a call, and the worker renews it (under worker.wmu).
	ctx    context.Context
	cancel context.CancelFunc
}

// newInstance builds a sandbox for h and runs the script's chunk there,
// within ChunkBudget: the same bound for `ctlua check`, a load and a
// worker's first packet of a version. h may be nil while checking a
// script whose declaration is not known yet.
func (e *Engine) newInstance(h *Helper, file string, proto *lua.FunctionProto) (*instance, error) {
	in := &instance{h: h}
	sess := &Session{conntrack: e.cfg.Conntrack, expecter: e.cfg.Expecter}
	sb, err := newSandbox(e.cfg.Modules, sess)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	in.sb = sb
	L := sb.L
	limit := ChunkBudget(e.cfg.Budget)
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	L.SetContext(ctx)
	fn := L.NewFunctionFromProto(proto)
	fn.Env = sb.env
	L.Push(fn)
	err = L.PCall(0, 1, nil)
	cancel()
	if err != nil {
		L.Close()
		se := scriptError(helperName(h), file, KindLoad, err)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			se.Kind = KindTimeout
			se.Msg = fmt.Sprintf("script chunk ran past its load budget (%s: ten times the callback budget, at least 1s): %s", limit, se.Msg)
		}
		return nil, se
	}
	in.decl = L.Get(-1)
	L.Pop(1)
	if t, ok := in.decl.(*lua.LTable); ok {
		in.onPacket, _ = t.RawGetString("on_packet").(*lua.LFunction)
		in.onReload, _ = t.RawGetString("on_reload").(*lua.LFunction)
	}
	in.pktUD = L.NewUserData()
	L.SetMetatable(in.pktUD, L.GetTypeMetatable(PacketType))
	in.connUD = L.NewUserData()
	L.SetMetatable(in.connUD, L.GetTypeMetatable(ConnType))
	in.renewContext()
	return in, nil
}

func helperName(h *Helper) string {
	if h == nil {
		return ""
	}
	return h.Spec.Name
}

// failedInstance is the instance of a version whose chunk failed in a
// worker: every packet gets the default verdict with err.
func failedInstance(h *Helper, err error) *instance {
	var se *ScriptError
	if !errors.As(err, &se) {
		se = &ScriptError{Helper: h.Spec.Name, Kind: KindLoad, File: h.File, Msg: err.Error()}
	}
	se.Helper = h.Spec.Name
	return &instance{h: h, err: se}
}

// renewContext gives the instance a fresh cancellable context.
func (in *instance) renewContext() {
	if in.cancel != nil {
		in.cancel()
	}
	in.ctx, in.cancel = context.WithCancel(context.Background())
	in.sb.L.SetContext(in.ctx)
}

func (in *instance) close() {
	if in.sb != nil {
		in.cancel()
		in.sb.L.Close()
	}
}
