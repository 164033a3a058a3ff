package daemon

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/ctlua/ctlua/runtime/cthelper"
	"github.com/ctlua/ctlua/runtime/nftrules"
	"github.com/ctlua/ctlua/runtime/privs"
)

// An operator does what running as a system service asks of [Run] beside
// serving: the capability check, the nftables table the daemon owns
// (`rules = "install"`), the switch to an unprivileged user (`user`), and
// systemd's notifications (readiness, reload, stop, watchdog).
type operator struct {
	cfg    *Config
	log    *slog.Logger
	notify *notifier
	target *privs.Target
	// installed is set while the daemon's table is in the kernel.
	installed bool
	// healthy says whether the watchdog may be pinged.
	healthy func() error
	// sick is set while the watchdog is held back, to log once.
	sick bool
}

// needs names what the daemon uses CAP_NET_ADMIN for.
func (c *Config) needs() string {
	s := "registering helpers (nfnetlink_cthelper), binding queues (NFQUEUE) and creating expectations (ctnetlink)"
	if c.Daemon.Rules == "install" {
		s += ", installing its nftables table (rules = \"install\")"
	}
	return s
}

// newOperator checks, before anything touches the kernel, that the
// process holds CAP_NET_ADMIN and that the configured user exists, and
// removes a table a crashed run left (its objects pin the helpers, which
// could then not be replaced).
func newOperator(cfg *Config, log *slog.Logger) (*operator, error) {
	o := &operator{cfg: cfg, log: log, notify: newNotifier(log), healthy: func() error { return nil }}
	if err := privs.Require(privs.CapNetAdmin, cfg.needs()); err != nil {
		return nil, err
	}
	if cfg.Daemon.User != "" {
		t, err := privs.LookupUser(cfg.Daemon.User)
		if err != nil {
			return nil, fmt.Errorf("%s: daemon.user: %w", cfg.file, err)
		}
		o.target = &t
	}
	if cfg.Daemon.Rules == "install" {
		had, err := nftrules.Remove(nftrules.DefaultTable, 0)
		if err != nil {
			return nil, err
		}
		if had {
			log.Warn("removed the nftables table an earlier run left (it did not stop cleanly); it is installed anew once the helpers are registered",
				"table", "inet "+nftrules.DefaultTable)
		}
	}
	return o, nil
}

// serving runs once the helpers are registered and the queues bound: it
// installs or prints the rules, switches user, then tells systemd the
// daemon is ready.
func (o *operator) serving(runs []*helperRun) error {
	table := NFTTable(rulesOf(runs))
	switch o.cfg.Daemon.Rules {
	case "install":
		if err := nftrules.Install(table, 0); err != nil {
			return err
		}
		o.installed = true
		o.log.Info("installed nftables table", "table", "inet "+table.Name, "objects", len(table.Objects), "rules", countRules(table))
	case "print":
		var b strings.Builder
		if err := table.WriteText(&b); err != nil {
			return err
		}
		o.log.Info("attach the helpers with `nft -f` of this ruleset (rules = \"print\")", "ruleset", b.String())
	}
	if o.target != nil {
		msg := "switched user, keeping only CAP_NET_ADMIN"
		if os.Geteuid() == o.target.UID {
			msg = "running as the configured user, keeping only CAP_NET_ADMIN"
		}
		if err := privs.Drop(*o.target, privs.CapNetAdmin); err != nil {
			return fmt.Errorf("daemon.user %q: %w", o.target.Name, err)
		}
		o.log.Info(msg, "user", o.target.Name, "uid", o.target.UID, "gid", o.target.GID)
	}
	o.healthy = func() error { return queuesReceiving(runs) }
	o.notify.send("READY=1\nSTATUS=serving " + fmt.Sprint(len(runs)) + " helper(s)")
	return nil
}

// rulesOf returns the rules that attach the running helpers, for the
// families they were registered for.
func rulesOf(runs []*helperRun) []Rule {
	var rules []Rule
	for _, r := range runs {
		rule := Rule{Spec: r.spec, Ports: r.spec.Ports}
		for _, kh := range r.kernel {
			rule.IPv4 = rule.IPv4 || kh.L3 == cthelper.IPv4
			rule.IPv6 = rule.IPv6 || kh.L3 == cthelper.IPv6
		}
		rules = append(rules, rule)
	}
	return rules
}

func countRules(t nftrules.Table) int {
	n := 0
	for _, c := range t.Chains {
		n += len(c.Rules)
	}
	return n
}

// queuesReceiving fails when a queue's receive loop has ended.
func queuesReceiving(runs []*helperRun) error {
	for _, r := range runs {
		if r.queue != nil && !r.queue.Receiving() {
			return fmt.Errorf("queue %d (%s) is not receiving", *r.cfg.Queue, r.name)
		}
	}
	return nil
}

// watchdog ticks at half the systemd watchdog's interval, or never.
func (o *operator) watchdog() <-chan time.Time { return o.notify.tick() }

// ping tells systemd's watchdog the daemon lives: it runs in Run's main
// loop (a stuck loop stops the pings) and only while every queue receives.
func (o *operator) ping() {
	if err := o.healthy(); err != nil {
		if !o.sick {
			o.log.Error("not pinging the systemd watchdog", "error", err)
		}
		o.sick = true
		return
	}
	o.sick = false
	o.notify.send("WATCHDOG=1")
}

// reloading and reloaded bracket a reload for systemd.
func (o *operator) reloading() {
	o.notify.send(fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", monotonicUsec()))
}

func (o *operator) reloaded() { o.notify.send("READY=1") }

// stopping tells systemd the daemon stops and removes the table it
// installed, before the helpers its objects reference are deleted.
func (o *operator) stopping() {
	o.notify.send("STOPPING=1")
	o.notify.close()
	if !o.installed {
		return
	}
	had, err := nftrules.Remove(nftrules.DefaultTable, 0)
	switch {
	case err != nil:
		o.log.Error("cannot remove the nftables table: it stays, and pins the helpers", "table", "inet "+nftrules.DefaultTable, "error", err)
	case had:
		o.log.Info("removed nftables table", "table", "inet "+nftrules.DefaultTable)
	default:
		o.log.Warn("the nftables table was already gone", "table", "inet "+nftrules.DefaultTable)
	}
	o.installed = false
}
