package daemon

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/runtime/cthelper"
)

func TestConfigUserAndRules(t *testing.T) {
	tests := []struct{ name, daemon, wantUser, wantRules, err string }{
		{"defaults", "", "", "none", ""},
		{"install as a user", "user = \"ctlua\"\nrules = \"install\"\n", "ctlua", "install", ""},
		{"print", "rules = \"print\"\n", "", "print", ""},
		{"numeric user", "user = \"999\"\n", "999", "none", ""},
		{"bad rules", "rules = \"apply\"\n", "", "", "c.toml:3: daemon.rules: must be \"install\", \"print\" or \"none\", got \"apply\""},
		{"bad user", "user = \"ct lua \"\n", "", "", "c.toml:3: daemon.user: must be a user name or uid"},
		{"user with a colon", "user = \"a:b\"\n", "", "", "daemon.user: must be a user name or uid"},
		{"rules not a string", "rules = true\n", "", "", "c.toml:3:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConfig("c.toml", []byte("\n[daemon]\n"+tt.daemon+"[[helper]]\nscript = \"a\"\nqueue = 0\n"))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want it to contain %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Daemon.User != tt.wantUser || c.Daemon.Rules != tt.wantRules {
				t.Fatalf("user %q rules %q, want %q %q", c.Daemon.User, c.Daemon.Rules, tt.wantUser, tt.wantRules)
			}
		})
	}
}

// fakeSystemd listens where NOTIFY_SOCKET points, as systemd does.
func fakeSystemd(t *testing.T) *net.UnixConn {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return c
}

// next returns the next notification, or "" after wait.
func next(t *testing.T, c *net.UnixConn, wait time.Duration) string {
	t.Helper()
	b := make([]byte, 4096)
	c.SetReadDeadline(time.Now().Add(wait))
	n, err := c.Read(b)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return ""
		}
		t.Fatal(err)
	}
	return string(b[:n])
}

func TestNotifyLifeCycle(t *testing.T) {
	sock := fakeSystemd(t)
	t.Setenv("WATCHDOG_USEC", "200000")
	t.Setenv("WATCHDOG_PID", "")
	log := slog.New(slog.DiscardHandler)
	cfg, err := ParseConfig("c.toml", []byte("[[helper]]\nscript = \"a\"\nqueue = 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	o := &operator{cfg: cfg, log: log, notify: newNotifier(log), healthy: func() error { return nil }}
	if o.notify.every != 100*time.Millisecond {
		t.Fatalf("watchdog pings every %v, want half of WATCHDOG_USEC (100ms)", o.notify.every)
	}
	run := &helperRun{cfg: cfg.Helpers[0], name: "ftp", spec: engine.Spec{Name: "ftp", Proto: engine.ProtoTCP, Ports: []uint16{21}},
		kernel: []cthelper.Helper{{Name: "ftp", L3: cthelper.IPv4}}}
	if err := o.serving([]*helperRun{run}); err != nil {
		t.Fatal(err)
	}
	if got := next(t, sock, time.Second); got != "READY=1\nSTATUS=serving 1 helper(s)" {
		t.Fatalf("after serving: %q, want READY=1 and a status", got)
	}

	// The pings come from the main loop's ticks, at the interval.
	start := time.Now()
	for range 3 {
		select {
		case <-o.watchdog():
			o.ping()
		case <-time.After(2 * time.Second):
			t.Fatal("the watchdog did not tick")
		}
		if got := next(t, sock, time.Second); got != "WATCHDOG=1" {
			t.Fatalf("ping: %q, want WATCHDOG=1", got)
		}
	}
	if took := time.Since(start); took < 250*time.Millisecond {
		t.Fatalf("3 pings in %v: faster than every 100ms", took)
	}
	// A queue that stopped receiving holds the pings back.
	o.healthy = func() error { return errors.New("queue 3 (ftp) is not receiving") }
	<-o.watchdog()
	o.ping()
	if got := next(t, sock, 300*time.Millisecond); got != "" {
		t.Fatalf("unhealthy: got %q, want no ping", got)
	}
	o.healthy = func() error { return nil }
	o.ping()
	if got := next(t, sock, time.Second); got != "WATCHDOG=1" {
		t.Fatalf("healthy again: %q, want WATCHDOG=1", got)
	}

	o.reloading()
	if got := next(t, sock, time.Second); !strings.HasPrefix(got, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Fatalf("reload: %q, want RELOADING=1 with MONOTONIC_USEC", got)
	}
	o.reloaded()
	if got := next(t, sock, time.Second); got != "READY=1" {
		t.Fatalf("after reload: %q, want READY=1", got)
	}
	o.stopping()
	if got := next(t, sock, time.Second); got != "STOPPING=1" {
		t.Fatalf("stop: %q, want STOPPING=1", got)
	}
}

func TestNotifyWithoutSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	t.Setenv("WATCHDOG_USEC", "")
	n := newNotifier(slog.New(slog.DiscardHandler))
	if n.tick() != nil {
		t.Fatal("a watchdog ticker without WATCHDOG_USEC")
	}
	n.send("READY=1") // nothing to send to, nothing fails
	if n.failed {
		t.Fatal("sending without NOTIFY_SOCKET failed")
	}
}

func TestNotifyWatchdogOfAnotherProcess(t *testing.T) {
	t.Setenv("WATCHDOG_USEC", "200000")
	t.Setenv("WATCHDOG_PID", "1")
	if os.Getpid() == 1 {
		t.Fatal("the test runs as PID 1")
	}
	if n := newNotifier(slog.New(slog.DiscardHandler)); n.tick() != nil {
		t.Fatal("pinging a watchdog meant for another process")
	}
}

// rules = "print" logs the ruleset `ctlua rules` prints, for the running
// helpers' families and ports, and touches no kernel.
func TestServingPrintsRules(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	var logged strings.Builder
	log := slog.New(slog.NewTextHandler(&logged, nil))
	cfg, err := ParseConfig("c.toml", []byte("[daemon]\nrules = \"print\"\n[[helper]]\nscript = \"a\"\nqueue = 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	o := &operator{cfg: cfg, log: log, notify: newNotifier(log), healthy: func() error { return nil }}
	run := &helperRun{cfg: cfg.Helpers[0], name: "ftp", spec: engine.Spec{Name: "ftp", Proto: engine.ProtoTCP, Ports: []uint16{2121, 21}},
		kernel: []cthelper.Helper{{Name: "ftp", L3: cthelper.IPv6}}}
	if err := o.serving([]*helperRun{run}); err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	if err := WriteNFT(&want, rulesOf([]*helperRun{run})); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`rules = \"print\"`, `meta nfproto ipv6 tcp dport { 21, 2121 } ct helper set \"ftp-ip6\"`} {
		if !strings.Contains(logged.String(), s) {
			t.Errorf("log lacks %s:\n%s", s, logged.String())
		}
	}
	if strings.Contains(logged.String(), "ftp-ip\\\"") || strings.Contains(want.String(), "ftp-ip\"") {
		t.Errorf("an IPv6-only helper got IPv4 rules:\n%s", logged.String())
	}
	if o.installed {
		t.Fatal("print installed the table")
	}
}
