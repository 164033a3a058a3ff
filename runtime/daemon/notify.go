package daemon

import (
	"log/slog"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"
)

// A notifier speaks systemd's notify protocol (sd_notify(3)): datagrams
// of NAME=VALUE lines to the socket NOTIFY_SOCKET names, when the service
// runs with Type=notify. Without NOTIFY_SOCKET it does nothing.
type notifier struct {
	log *slog.Logger
	// every is half the watchdog interval (WATCHDOG_USEC, when
	// WATCHDOG_PID is unset or names this process); 0 without watchdog.
	every  time.Duration
	ticker *time.Ticker
	failed bool
}

func newNotifier(log *slog.Logger) *notifier {
	n := &notifier{log: log}
	wd, err := sd.SdWatchdogEnabled(false)
	if err != nil {
		log.Error("ignoring systemd's watchdog settings", "error", err)
	}
	if wd > 0 {
		n.every = wd / 2
		log.Info("systemd watchdog enabled", "interval", wd, "ping_every", n.every)
	}
	return n
}

// send sends one notification; a failure is logged once.
func (n *notifier) send(state string) {
	if _, err := sd.SdNotify(false, state); err != nil && !n.failed {
		n.failed = true
		n.log.Error("cannot notify systemd", "state", state, "error", err)
	}
}

// tick returns a channel that ticks at half the watchdog interval; nil
// (never ready) without a watchdog.
func (n *notifier) tick() <-chan time.Time {
	if n.every <= 0 {
		return nil
	}
	if n.ticker == nil {
		n.ticker = time.NewTicker(n.every)
	}
	return n.ticker.C
}

// close stops the watchdog's ticker.
func (n *notifier) close() {
	if n.ticker != nil {
		n.ticker.Stop()
	}
}

// monotonicUsec is CLOCK_MONOTONIC in microseconds, as RELOADING=1 wants.
func monotonicUsec() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return ts.Nano() / 1000
}
