package daemon

import (
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"strconv"
	"sync"
	"time"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/runtime/control"
	"github.com/ctlua/ctlua/runtime/metrics"
)

// An observer shows the running daemon: the control socket (status,
// reload) and the Prometheus listener. Both are bound before the kernel
// helpers are registered, so that a taken address fails the start, and
// answer once serve is called.
type observer struct {
	version string
	started time.Time
	log     *slog.Logger
	sock    *control.Server
	met     *metrics.Server

	e      *engine.Engine
	runs   []*helperRun
	reload func(...*helperRun) error

	mu   sync.Mutex
	last map[string]control.ReloadResult // by helper
}

// listenObserve binds the control socket and the metrics address that cfg
// asks for. The default socket is best effort: when it cannot be bound
// (no /run/ctlua, another daemon answers there), the daemon runs without
// it and says so; a configured one that cannot be bound is an error.
func listenObserve(cfg *Config, e *engine.Engine, version string, log *slog.Logger) (*observer, error) {
	o := &observer{version: version, started: time.Now(), log: log, e: e, last: map[string]control.ReloadResult{}}
	if path := cfg.Daemon.SocketPath(); path != "" {
		gid, err := lookupGroup(cfg.Daemon.SocketGroup)
		if err == nil {
			o.sock, err = control.Listen(path, gid)
		}
		switch {
		case err != nil && cfg.Daemon.Socket == nil:
			log.Warn("no control socket: `ctlua status` and `ctlua reload` cannot reach this daemon; set socket in [daemon]", "error", err)
		case err != nil:
			return nil, err
		}
	}
	if cfg.Daemon.Metrics != "" {
		m, err := metrics.Listen(cfg.Daemon.Metrics)
		if err != nil {
			o.close()
			return nil, err
		}
		o.met = m
	}
	return o, nil
}

// lookupGroup returns the id of the named group, or -1 for "".
func lookupGroup(name string) (int, error) {
	if name == "" {
		return -1, nil
	}
	g, err := user.LookupGroup(name)
	if err != nil {
		return 0, fmt.Errorf("control socket: socket_group: %w", err)
	}
	return strconv.Atoi(g.Gid)
}

// serve starts answering: the helpers are loaded and their queues bound.
// reload reloads helpers, recording each outcome with reloaded.
func (o *observer) serve(runs []*helperRun, reload func(...*helperRun) error) {
	o.runs, o.reload = runs, reload
	if o.sock != nil {
		o.sock.Serve(o)
		o.log.Info("control socket", "path", o.sock.Path())
	}
	if o.met != nil {
		o.met.Serve(o.Status, o.log)
		o.log.Info("metrics", "address", "http://"+o.met.Addr().String()+"/metrics")
	}
}

func (o *observer) close() {
	if o.sock != nil {
		o.sock.Close()
	}
	if o.met != nil {
		o.met.Close()
	}
}

// Status implements control.Backend.
func (o *observer) Status() control.Status {
	st := control.Status{Version: o.version, PID: os.Getpid(), Started: o.started,
		UptimeSeconds: time.Since(o.started).Seconds(), Workers: o.e.Workers()}
	for _, r := range o.runs {
		h := o.e.Helper(r.name)
		if h == nil {
			continue
		}
		stats, _ := o.e.Stats(r.name)
		hs := control.HelperOf(h, stats, o.e.RecentErrors(r.name))
		hs.Script, hs.Queue = r.cfg.Script, *r.cfg.Queue
		if r.queue != nil {
			hs.QueueCounters = control.QueueOf(r.queue.Stats())
		}
		o.mu.Lock()
		if last, ok := o.last[r.name]; ok {
			hs.LastReload = &last
		}
		o.mu.Unlock()
		st.Helpers = append(st.Helpers, hs)
	}
	return st
}

// Reload implements control.Backend: it reloads the named helper, or all.
func (o *observer) Reload(name string) ([]control.ReloadResult, error) {
	var sel []*helperRun
	for _, r := range o.runs {
		if name == "" || r.name == name {
			sel = append(sel, r)
		}
	}
	if len(sel) == 0 {
		var names []string
		for _, r := range o.runs {
			names = append(names, r.name)
		}
		return nil, fmt.Errorf("no helper %q (the daemon runs %v)", name, names)
	}
	o.reload(sel...)
	out := make([]control.ReloadResult, 0, len(sel))
	o.mu.Lock()
	for _, r := range sel {
		out = append(out, o.last[r.name])
	}
	o.mu.Unlock()
	return out, nil
}

// reloaded records the outcome of a reload of r, however it was asked
// for.
func (o *observer) reloaded(r *helperRun, err error) {
	res := control.ReloadResult{Helper: r.name, Time: time.Now(), Loaded: err == nil}
	if h := o.e.Helper(r.name); h != nil {
		res.Version, res.SHA256 = h.Version, hex.EncodeToString(h.Hash[:])
	}
	if err != nil {
		res.Error = err.Error()
	}
	o.mu.Lock()
	o.last[r.name] = res
	o.mu.Unlock()
}
