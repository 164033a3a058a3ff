package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
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
	// Version is the ctlua release, for the status and the metrics.
	Version string
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
// family and L4 protocol.
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
		for _, l4 := range r.spec.L4s() {
			h := cthelper.Helper{Name: r.spec.Name, L3: f, L4: l4, QueueNum: uint32(*r.cfg.Queue),
				PrivSize: uint32(r.spec.PrivateSize), Enabled: true}
			for _, p := range r.spec.Policies {
				h.Policies = append(h.Policies, cthelper.Policy{Name: p.Name, MaxExpected: p.MaxExpected, Timeout: p.Timeout})
			}
			hs = append(hs, h)
		}
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
		e.RefuseReload(r.script, err)
		return err
	}
	h, want, err := r.compatible(e, file, src)
	if err != nil {
		e.RefuseReload(file, err) // Load counts its own failures
		return err
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

// compatible checks a new version of the script and that it fits the
// kernel registration the helper has: it returns the version and the
// registrations it asks for.
func (r *helperRun) compatible(e *engine.Engine, file string, src []byte) (*engine.Helper, []cthelper.Helper, error) {
	h, err := e.Check(file, src, r.cfg.Overrides())
	if err != nil {
		return nil, nil, err
	}
	next := &helperRun{cfg: r.cfg, spec: h.Spec}
	want := next.kernelHelpers()
	if h.Spec.Name != r.spec.Name || !slices.Equal(h.Spec.L4s(), r.spec.L4s()) || len(want) != len(r.kernel) {
		return nil, nil, fmt.Errorf("%s: name, protocols or families changed: restart the daemon to re-register", file)
	}
	for i := range want {
		if want[i].PrivSize != r.kernel[i].PrivSize || len(want[i].Policies) != len(r.kernel[i].Policies) {
			return nil, nil, fmt.Errorf("%s: private_size or the number of policies changed: restart the daemon to re-register", file)
		}
		for j := range want[i].Policies {
			if want[i].Policies[j].Name != r.kernel[i].Policies[j].Name {
				return nil, nil, fmt.Errorf("%s: policy names changed: restart the daemon to re-register", file)
			}
		}
	}
	return h, want, nil
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
