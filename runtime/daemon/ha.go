package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/runtime/hasync"
	"github.com/ctlua/ctlua/runtime/nfq"
)

// HAConfig makes the daemon one node of an HA firewall pair (docs/ha.md):
// the kernel helpers are shared with the other node's daemon (adopted when
// it registered them first, never deleted on exit), and the two daemons
// sync what conntrackd loses over a channel of their own.
type HAConfig struct {
	// Listen is this node's sync address, "ADDR:PORT" on the sync link.
	Listen string `toml:"listen"`
	// Peer is the other node's sync address.
	Peer string `toml:"peer"`
}

// checkHA validates [ha] and applies its on_exit default ("keep"); any
// other on_exit would strip the helper from the other node's connections
// too (kernel helpers are global).
func (c *Config) checkHA(bad func(field, format string, args ...any)) {
	if c.HA == nil {
		return
	}
	for _, f := range []struct{ name, v string }{{"ha.listen", c.HA.Listen}, {"ha.peer", c.HA.Peer}} {
		if _, err := netip.ParseAddrPort(f.v); err != nil {
			bad(f.name, "required: ADDR:PORT on the sync link, got %q", f.v)
		}
	}
	switch c.Daemon.OnExit {
	case "":
		c.Daemon.OnExit = "keep"
	case "keep":
	default:
		bad("daemon.on_exit", "must be \"keep\" with [ha]: kernel helpers are global, deleting or disabling one strips it from the other node's connections too, got %q", c.Daemon.OnExit)
	}
}

// startupExit is what a daemon that fails to start does with the kernel
// helpers it registered so far: it deletes them, unless they are shared
// with the other node of an HA pair.
func (c *Config) startupExit() string {
	if c.HA != nil {
		return "keep"
	}
	return "delete"
}

// haNode is the daemon's end of the sync channel; nil without [ha], and
// then its methods do nothing.
type haNode struct{ *hasync.Node }

// startHA opens the sync channel when the configuration has [ha].
func startHA(cfg *Config, kernel *nfq.Expecter, log *slog.Logger) (*haNode, error) {
	if cfg.HA == nil {
		return nil, nil
	}
	n, err := hasync.Listen(hasync.Config{Listen: netip.MustParseAddrPort(cfg.HA.Listen),
		Peer: netip.MustParseAddrPort(cfg.HA.Peer), Kernel: kernel, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("ha: %w", err)
	}
	log.Info("ha: syncing with the peer", "listen", cfg.HA.Listen, "peer", cfg.HA.Peer)
	return &haNode{n}, nil
}

// expecter returns the engine's expecter: x, wrapped to tell the peer.
func (h *haNode) expecter(x *nfq.Expecter) engine.Expecter {
	if h == nil {
		return x
	}
	return h.Expecter(x)
}

func (h *haNode) observer() nfq.Observer {
	if h == nil {
		return nil
	}
	return h.Observe
}

// run serves the sync channel, and follows the kernel's expectation
// events so that the peer's copies go when this node's expectations go.
func (h *haNode) run(ctx context.Context, log *slog.Logger) {
	if h == nil {
		return
	}
	go h.Run(ctx)
	events, err := nfq.ListenExpectations(0)
	if err != nil {
		log.Error("ha: no expectation events: the peer's copies of used expectations stay until they expire", "error", err)
		return
	}
	go func() {
		if err := events.Run(ctx, h.Destroyed); err != nil {
			log.Error("ha: expectation events stopped: the peer's copies of used expectations stay until they expire", "error", err)
		}
	}()
}

func (h *haNode) forget(k engine.ConnKey) {
	if h != nil {
		h.Forget(k)
	}
}

func (h *haNode) logStats(log *slog.Logger) {
	if h == nil {
		return
	}
	s := h.Stats()
	log.Info("ha sync stats", "sent", s.Sent, "send_dropped", s.SendDropped, "send_errors", s.SendErrors,
		"received", s.Received, "bad", s.Bad, "applied", s.Applied, "retried", s.Retried,
		"failed", s.Failed, "expired", s.Expired, "expectations", s.ExpectationsFound, "taken_over", s.TakenOver, "replaced", s.Replaced, "followed", s.Followed, "displaced", s.Displaced)
}
