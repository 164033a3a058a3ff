package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/runtime/cthelper"
	"github.com/ctlua/ctlua/runtime/nfq"
	"golang.org/x/sys/unix"
)

// Options are what the daemon needs besides its configuration.
type Options struct {
	Config *Config
	// Modules are the Lua modules scripts can require.
	Modules []engine.Module
	// Builtin holds the shipped helpers as NAME/helper.lua, for
	// "builtin:NAME" scripts.
	Builtin fs.FS
	Logger  *slog.Logger
	// Reload receives a value for every SIGHUP: reload every script.
	Reload <-chan struct{}
	// Ready, if set, is closed once helpers are registered and queues
	// bound.
	Ready chan<- struct{}
}

// A helperRun is one configured helper, running.
type helperRun struct {
	cfg    HelperConfig
	script string // path on disk, or "" for builtin
	name   string
	spec   engine.Spec
	queue  *nfq.Queue
	kernel []cthelper.Helper
}

// Run starts the daemon and serves until ctx is done: it probes the
// kernel, loads the scripts, registers the kernel helpers before anything
// else, binds the queues, and then reloads scripts on SIGHUP and file
// changes. When ctx is done it drains the queues and deletes, disables or
// keeps the kernel helpers as configured, saying so in the log.
func Run(ctx context.Context, opt Options) error {
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg := opt.Config
	if err := cthelper.Probe(nil); err != nil {
		return fmt.Errorf("kernel check: %w", err)
	}
	ct, err := nfq.DialConntrack(0)
	if err != nil {
		return fmt.Errorf("kernel check: %w", err)
	}
	defer ct.Close()
	exp, err := nfq.DialExpecter(0)
	if err != nil {
		return fmt.Errorf("kernel check: %w", err)
	}
	defer exp.Close()
	ha, err := startHA(cfg, exp, log)
	if err != nil {
		return err
	}
	e, err := engine.New(engine.Config{Workers: cfg.Daemon.Workers, Budget: cfg.Daemon.Budget.Duration,
		Modules: opt.Modules, Conntrack: ct, Expecter: ha.expecter(exp), Logger: log})
	if err != nil {
		return err
	}
	defer e.Close()

	runs := make([]*helperRun, len(cfg.Helpers))
	for i, hc := range cfg.Helpers {
		r := &helperRun{cfg: hc}
		h, err := r.load(e, cfg, opt.Builtin)
		if err != nil {
			return err
		}
		r.name, r.spec = h.Spec.Name, h.Spec
		runs[i] = r
	}

	kc, err := cthelper.Dial(nil)
	if err != nil {
		return fmt.Errorf("nfnetlink_cthelper: %w", err)
	}
	defer kc.Close()
	for _, r := range runs {
		for _, kh := range r.kernelHelpers() {
			if err := register(kc, kh, cfg.HA != nil, log); err != nil {
				cleanup(kc, runs, cfg.startupExit(), log)
				return err
			}
			r.kernel = append(r.kernel, kh)
		}
	}
	for _, r := range runs {
		q, err := nfq.Open(e, nfq.Config{Queue: *r.cfg.Queue, Helper: r.name, MaxQueueLen: r.cfg.QueueLen,
			FailOpen: r.cfg.FailOpen == nil || *r.cfg.FailOpen, Expecter: exp, Logger: log,
			Observe: ha.observer()})
		if err != nil {
			stopQueues(runs)
			cleanup(kc, runs, cfg.startupExit(), log)
			return err
		}
		if err := q.Start(); err != nil {
			stopQueues(runs)
			cleanup(kc, runs, cfg.startupExit(), log)
			return explainQueueError(err)
		}
		r.queue = q
	}
	errc := make(chan error, len(runs))
	for _, r := range runs {
		go func() {
			if err, ok := <-r.queue.Err(); ok {
				errc <- err
			}
		}()
	}
	go forgetDestroyed(ctx, func(k engine.ConnKey) { e.Forget(k); ha.forget(k) }, log)
	ha.run(ctx)
	log.Info("ctlua running", "helpers", len(runs), "workers", e.Workers())
	if opt.Ready != nil {
		close(opt.Ready)
	}

	reload := func(r *helperRun) {
		if err := r.reload(e, kc, cfg, opt.Builtin, log); err != nil {
			log.Error("reload failed, the running version stays", "helper", r.name, "error", err)
		}
	}
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	if cfg.Daemon.Watch == nil || *cfg.Daemon.Watch {
		var paths []string
		byPath := map[string]*helperRun{}
		for _, r := range runs {
			if r.script != "" {
				paths = append(paths, r.script)
				byPath[r.script] = r
			}
		}
		if len(paths) > 0 {
			go func() {
				err := engine.Watch(wctx, paths, 0, func(p string) {
					if r := byPath[p]; r != nil {
						reload(r)
					}
				})
				if err != nil {
					log.Error("script watcher stopped; reload with SIGHUP", "error", err)
				}
			}()
		}
	}

	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-opt.Reload:
			for _, r := range runs {
				reload(r)
			}
		case runErr = <-errc:
			break loop
		}
	}
	log.Info("stopping: draining queues")
	stopQueues(runs)
	for _, r := range runs {
		st := r.queue.Stats()
		log.Info("queue stats", "helper", r.name, "packets", st.Packets, "verdicts", st.Verdicts,
			"without_conntrack", st.WithoutConntrack, "enobufs", st.ENOBUFS, "send_errors", st.SendErrors,
			"extra_expectations", st.ExtraExpectations, "extra_expectation_errors", st.ExtraExpectationErrors,
			"seq_adjust_fixes", st.SeqAdjustFixes, "seq_adjust_fix_errors", st.SeqAdjustFixErrors,
			"overflows", st.Overflows, "abandoned", st.Abandoned, "inline", st.Inline, "inline_runs", st.InlineRuns)
	}
	ha.logStats(log)
	cleanup(kc, runs, cfg.Daemon.OnExit, log)
	return runErr
}

func stopQueues(runs []*helperRun) {
	for _, r := range runs {
		if r.queue != nil {
			r.queue.Stop()
		}
	}
}

// load loads the helper's script into the engine.
func (r *helperRun) load(e *engine.Engine, cfg *Config, builtin fs.FS) (*engine.Helper, error) {
	file, src, err := r.source(cfg, builtin)
	if err != nil {
		return nil, err
	}
	return e.Load(file, src, r.cfg.Overrides())
}

func (r *helperRun) source(cfg *Config, builtin fs.FS) (file string, src []byte, err error) {
	if name, ok := strings.CutPrefix(r.cfg.Script, "builtin:"); ok {
		if builtin == nil {
			return "", nil, fmt.Errorf("%s: no builtin helpers in this build", r.cfg.Script)
		}
		src, err = fs.ReadFile(builtin, name+"/helper.lua")
		if err != nil {
			return "", nil, fmt.Errorf("%s: no such builtin helper", r.cfg.Script)
		}
		return "builtin/" + name + "/helper.lua", src, nil
	}
	path := r.cfg.Script
	if !filepath.IsAbs(path) && cfg.file != "" {
		path = filepath.Join(filepath.Dir(cfg.file), path)
	}
	r.script = path
	src, err = os.ReadFile(path)
	if err != nil {
		return "", nil, fmt.Errorf("helper script: %w", err)
	}
	return path, src, nil
}

// kernelHelpers returns the kernel registrations of the helper: one per
// family.
func (r *helperRun) kernelHelpers() []cthelper.Helper {
	var fams []cthelper.L3Proto
	want := func(f string) bool {
		if len(r.cfg.L3) == 0 {
			return true
		}
		for _, x := range r.cfg.L3 {
			if x == f {
				return true
			}
		}
		return false
	}
	if r.spec.IPv4 && want("ipv4") {
		fams = append(fams, cthelper.IPv4)
	}
	if r.spec.IPv6 && want("ipv6") {
		fams = append(fams, cthelper.IPv6)
	}
	var hs []cthelper.Helper
	for _, f := range fams {
		h := cthelper.Helper{Name: r.spec.Name, L3: f, L4: r.spec.Proto, QueueNum: uint32(*r.cfg.Queue),
			PrivSize: uint32(r.spec.PrivateSize), Enabled: true}
		for _, p := range r.spec.Policies {
			h.Policies = append(h.Policies, cthelper.Policy{Name: p.Name, MaxExpected: p.MaxExpected, Timeout: p.Timeout})
		}
		hs = append(hs, h)
	}
	return hs
}

// register creates a kernel helper, or updates one left by an earlier run
// when its layout allows, or replaces it. In an HA pair (shared) the
// helper may be the other node's, which is adopted when its layout is the
// same and never replaced.
func register(kc *cthelper.Conn, h cthelper.Helper, shared bool, log *slog.Logger) error {
	err := kc.Create(h)
	if err == nil {
		log.Info("registered kernel helper", "name", h.Name, "l3", h.L3.String(), "queue", h.QueueNum)
		return nil
	}
	if !errors.Is(err, syscall.EEXIST) {
		return err
	}
	if err = kc.Update(h); err == nil {
		msg := "updated kernel helper left by an earlier run"
		if shared {
			msg = "adopted kernel helper (the other node's, or left by an earlier run)"
		}
		log.Info(msg, "name", h.Name, "l3", h.L3.String(), "queue", h.QueueNum)
		return nil
	}
	if !errors.Is(err, syscall.EBUSY) {
		return err
	}
	if shared {
		return fmt.Errorf("ha: kernel helper %s (%s) is registered with another layout (policies, private size) by the other node or an older version: run the same script on both nodes: %w", h.Name, h.L3, err)
	}
	log.Warn("kernel helper of an earlier run has another layout: deleting it (its connections lose the helper)", "name", h.Name, "error", err)
	if err := kc.Delete(h.Name, h.L3, h.L4); err != nil {
		return err
	}
	return kc.Create(h)
}

// reload loads a new version of the script. A version that needs another
// kernel registration (other policy names or count, private size, name,
// protocols) is refused; changed policy limits are applied as an update.
func (r *helperRun) reload(e *engine.Engine, kc *cthelper.Conn, cfg *Config, builtin fs.FS, log *slog.Logger) error {
	file, src, err := r.source(cfg, builtin)
	if err != nil {
		return err
	}
	h, err := e.Check(file, src, r.cfg.Overrides())
	if err != nil {
		return err
	}
	next := &helperRun{cfg: r.cfg, spec: h.Spec}
	want := next.kernelHelpers()
	if h.Spec.Name != r.spec.Name || h.Spec.Proto != r.spec.Proto || len(want) != len(r.kernel) {
		return fmt.Errorf("%s: name, protocols or families changed: restart the daemon to re-register", file)
	}
	for i := range want {
		if want[i].PrivSize != r.kernel[i].PrivSize || len(want[i].Policies) != len(r.kernel[i].Policies) {
			return fmt.Errorf("%s: private_size or the number of policies changed: restart the daemon to re-register", file)
		}
		for j := range want[i].Policies {
			if want[i].Policies[j].Name != r.kernel[i].Policies[j].Name {
				return fmt.Errorf("%s: policy names changed: restart the daemon to re-register", file)
			}
		}
	}
	if _, err := e.Load(file, src, r.cfg.Overrides()); err != nil {
		return err
	}
	for i := range want {
		changed := false
		for j := range want[i].Policies {
			changed = changed || want[i].Policies[j] != r.kernel[i].Policies[j]
		}
		if changed {
			if err := kc.Update(want[i]); err != nil {
				log.Error("script reloaded but the kernel policy update failed", "helper", r.name, "error", err)
				continue
			}
			r.kernel[i] = want[i]
		}
	}
	r.spec = h.Spec
	log.Info("reloaded helper", "helper", r.name, "file", file)
	return nil
}

// cleanup deletes, disables or keeps the kernel helpers.
func cleanup(kc *cthelper.Conn, runs []*helperRun, onExit string, log *slog.Logger) {
	for _, r := range runs {
		if r == nil {
			continue
		}
		for _, kh := range r.kernel {
			switch onExit {
			case "keep":
				log.Warn("leaving kernel helper registered: its queue has no reader, so its connections pass unhelped (no expectations)",
					"name", kh.Name, "l3", kh.L3.String(), "queue", kh.QueueNum)
			case "disable":
				kh.Enabled = false
				if err := kc.Update(kh); err != nil {
					log.Error("cannot disable kernel helper", "name", kh.Name, "error", err)
				} else {
					log.Info("disabled kernel helper", "name", kh.Name, "l3", kh.L3.String())
				}
			default:
				if err := kc.Delete(kh.Name, kh.L3, kh.L4); errors.Is(err, syscall.EBUSY) {
					log.Error("cannot delete kernel helper: a rule (CT --helper, ct helper object) still references it; it stays registered with no reader until the rule is removed and `ctlua helpers --delete` runs",
						"name", kh.Name, "l3", kh.L3.String())
				} else if err != nil {
					log.Error("cannot delete kernel helper: it stays registered with no reader", "name", kh.Name, "error", err)
				} else {
					log.Info("deleted kernel helper", "name", kh.Name, "l3", kh.L3.String())
				}
			}
		}
	}
}

// forgetDestroyed drops the per-connection state of every connection the
// kernel destroys, as ctnetlink reports it, until ctx is done. Without
// events (a failed socket), states still go by idle time and eviction.
func forgetDestroyed(ctx context.Context, forget func(engine.ConnKey), log *slog.Logger) {
	if err := nfq.ListenDestroyed(ctx, 0, forget); err != nil {
		log.Error("no conntrack destroy events: per-connection state is dropped on idle time and eviction only", "error", err)
	}
}

// explainQueueError adds what the kernel lacks to a queue bind error.
func explainQueueError(err error) error {
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EAGAIN) {
		return fmt.Errorf("%w: the kernel cannot attach conntrack to queued packets (CONFIG_NETFILTER_NETLINK_GLUE_CT); try `modprobe nf_conntrack_netlink`", err)
	}
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("%w: is another process reading this queue?", err)
	}
	return err
}
