package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/runtime/cthelper"
	"github.com/ctlua/ctlua/runtime/nfq"
)

// A node is the daemon while it runs: its kernel connections, the engine,
// the configured helpers and what watches and operates them.
type node struct {
	opt  Options
	cfg  *Config
	log  *slog.Logger
	op   *operator
	ct   *nfq.Conntrack
	exp  *nfq.Expecter
	e    *engine.Engine
	obs  *observer
	kc   *cthelper.Conn
	ha   *haNode // the HA pair's sync channel; nil without [ha]
	runs []*helperRun
	// reloadMu serialises reloads: SIGHUP, the watcher and the control
	// socket.
	reloadMu sync.Mutex
}

// Run starts the daemon and serves until ctx is done: it probes the
// kernel, loads the scripts, registers the kernel helpers before anything
// else, binds the queues, and then reloads scripts on SIGHUP and file
// changes. When ctx is done it drains the queues and deletes, disables or
// keeps the kernel helpers as configured, saying so in the log.
func Run(ctx context.Context, opt Options) error {
	noHugePages()
	n := &node{opt: opt, cfg: opt.Config, log: opt.Logger}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	defer n.close()
	if err := n.open(); err != nil {
		return err
	}
	if err := n.loadAll(); err != nil {
		return err
	}
	errc, err := n.start()
	if err != nil {
		return err
	}
	go forgetDestroyed(ctx, func(k engine.ConnKey) { n.e.Forget(k); n.ha.forget(k) }, n.log)
	n.ha.run(ctx, n.log)
	releaseMemory()
	n.log.Info("ctlua running", "helpers", len(n.runs), "workers", n.e.Workers())
	if opt.Ready != nil {
		close(opt.Ready)
	}
	n.obs.serve(n.runs, n.reload)
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	n.watch(wctx)
	runErr := n.serve(ctx, errc)
	n.stop()
	return runErr
}

// open checks what the daemon may do and opens its kernel connections,
// the engine and the observer's listeners.
func (n *node) open() error {
	var err error
	if n.op, err = newOperator(n.cfg, n.log); err != nil { // capabilities, user, a crashed run's table (operate.go)
		return err
	}
	if err := cthelper.Probe(nil); err != nil {
		return fmt.Errorf("kernel check: %w", err)
	}
	if n.ct, err = nfq.DialConntrack(0); err != nil {
		return fmt.Errorf("kernel check: %w", err)
	}
	if n.exp, err = nfq.DialExpecter(0); err != nil {
		return fmt.Errorf("kernel check: %w", err)
	}
	if n.ha, err = startHA(n.cfg, n.exp, n.log); err != nil {
		return err
	}
	n.e, err = engine.New(engine.Config{Workers: n.cfg.Daemon.Workers, Budget: n.cfg.Daemon.Budget.Duration,
		Modules: n.opt.Modules, Conntrack: n.ct, Expecter: n.ha.expecter(n.exp), Logger: n.log})
	if err != nil {
		return err
	}
	n.obs, err = listenObserve(n.cfg, n.e, n.opt.Version, n.log)
	return err
}

// close releases what open and start opened, in reverse order.
func (n *node) close() {
	if n.kc != nil {
		n.kc.Close()
	}
	if n.obs != nil {
		n.obs.close()
	}
	if n.e != nil {
		n.e.Close()
	}
	if n.exp != nil {
		n.exp.Close()
	}
	if n.ct != nil {
		n.ct.Close()
	}
}

// loadAll loads every configured script into the engine.
func (n *node) loadAll() error {
	n.runs = make([]*helperRun, len(n.cfg.Helpers))
	for i, hc := range n.cfg.Helpers {
		r := &helperRun{cfg: hc}
		h, err := r.load(n.e, n.cfg, n.opt.Builtin)
		if err != nil {
			return err
		}
		r.name, r.spec = h.Spec.Name, h.Spec
		n.runs[i] = r
	}
	return nil
}

// start registers the kernel helpers, binds and starts the queues and
// lets the operator serve (rules, user switch, readiness). On an error
// it undoes what it did (but keeps the helpers an HA pair shares). It
// returns the channel the queues' receive errors arrive on.
func (n *node) start() (<-chan error, error) {
	var err error
	if n.kc, err = cthelper.Dial(nil); err != nil {
		return nil, fmt.Errorf("nfnetlink_cthelper: %w", err)
	}
	for _, r := range n.runs {
		for _, kh := range r.kernelHelpers() {
			if err := register(n.kc, kh, n.cfg.HA != nil, n.log); err != nil {
				cleanup(n.kc, n.runs, n.cfg.startupExit(), n.log)
				return nil, err
			}
			r.kernel = append(r.kernel, kh)
		}
	}
	if err := n.bindQueues(); err != nil {
		stopQueues(n.runs)
		cleanup(n.kc, n.runs, n.cfg.startupExit(), n.log)
		return nil, err
	}
	errc := make(chan error, len(n.runs))
	for _, r := range n.runs {
		go func() {
			if err, ok := <-r.queue.Err(); ok {
				errc <- err
			}
		}()
	}
	if err := n.op.serving(n.runs); err != nil {
		n.op.stopping()
		stopQueues(n.runs)
		cleanup(n.kc, n.runs, n.cfg.startupExit(), n.log)
		return nil, err
	}
	return errc, nil
}

// bindQueues opens and starts every helper's queue.
func (n *node) bindQueues() error {
	for _, r := range n.runs {
		q, err := nfq.Open(n.e, nfq.Config{Queue: *r.cfg.Queue, Helper: r.name, MaxQueueLen: r.cfg.QueueLen,
			FailOpen: r.cfg.FailOpen == nil || *r.cfg.FailOpen, Expecter: n.exp, Logger: n.log,
			Observe: n.ha.observer()})
		if err != nil {
			return err
		}
		if err := q.Start(); err != nil {
			return explainQueueError(err)
		}
		r.queue = q
	}
	return nil
}

// reload loads new versions of the scripts of runs, one reload at a time
// (SIGHUP, the watcher and the control socket may ask at once), then
// releases the garbage of the whole batch.
func (n *node) reload(runs ...*helperRun) error {
	n.reloadMu.Lock()
	defer n.reloadMu.Unlock()
	var errs []error
	for _, r := range runs {
		err := r.reload(n.e, n.kc, n.cfg, n.opt.Builtin, n.log)
		if err != nil {
			n.log.Error("reload failed, the running version stays", "helper", r.name, "error", err)
			errs = append(errs, err)
		}
		n.obs.reloaded(r, err)
	}
	releaseMemory()
	return errors.Join(errs...)
}

// watch reloads the scripts on disk when their files change, until ctx
// is done, unless the configuration turns watching off.
func (n *node) watch(ctx context.Context) {
	if w := n.cfg.Daemon.Watch; w != nil && !*w {
		return
	}
	var paths []string
	byPath := map[string]*helperRun{}
	for _, r := range n.runs {
		if r.script != "" {
			paths = append(paths, r.script)
			byPath[r.script] = r
		}
	}
	if len(paths) == 0 {
		return
	}
	go func() {
		err := engine.Watch(ctx, paths, 0, func(p string) {
			if r := byPath[p]; r != nil {
				n.reload(r)
			}
		})
		if err != nil {
			n.log.Error("script watcher stopped; reload with SIGHUP", "error", err)
		}
	}()
}

// serve reloads on SIGHUP and pings the watchdog until ctx is done or a
// queue fails, whose error it returns.
func (n *node) serve(ctx context.Context, errc <-chan error) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-n.opt.Reload:
			n.op.reloading()
			n.reload(n.runs...)
			n.op.reloaded()
		case <-n.op.watchdog():
			n.op.ping()
		case err := <-errc:
			return err
		}
	}
}

// stop takes the rules away, drains the queues, logs their counters and
// leaves the kernel helpers as the configuration says.
func (n *node) stop() {
	n.op.stopping() // the table goes first: its objects pin the helpers
	n.log.Info("stopping: draining queues")
	stopQueues(n.runs)
	for _, r := range n.runs {
		st := r.queue.Stats()
		n.log.Info("queue stats", "helper", r.name, "packets", st.Packets, "verdicts", st.Verdicts,
			"without_conntrack", st.WithoutConntrack, "enobufs", st.ENOBUFS, "send_errors", st.SendErrors,
			"extra_expectations", st.ExtraExpectations, "extra_expectation_errors", st.ExtraExpectationErrors,
			"seq_adjust_fixes", st.SeqAdjustFixes, "seq_adjust_fix_errors", st.SeqAdjustFixErrors,
			"overflows", st.Overflows, "abandoned", st.Abandoned, "inline", st.Inline, "inline_runs", st.InlineRuns)
	}
	n.ha.logStats(n.log)
	cleanup(n.kc, n.runs, n.cfg.Daemon.OnExit, n.log)
}
