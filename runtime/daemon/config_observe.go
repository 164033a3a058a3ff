package daemon

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"

	"github.com/ctlua/ctlua/runtime/control"
)

// DefaultMetricsHost is the host of a metrics address given without one.
const DefaultMetricsHost = "127.0.0.1"

// checkObserve validates and normalises the observability settings:
// log_format, metrics (a port alone listens on DefaultMetricsHost),
// socket and socket_group.
func (c *Config) checkObserve(bad func(field, format string, args ...any)) {
	d := &c.Daemon
	switch d.LogFormat {
	case "":
		d.LogFormat = "text"
	case "text", "json":
	default:
		bad("daemon.log_format", "must be \"text\" or \"json\", got %q", d.LogFormat)
	}
	if d.Metrics != "" {
		addr, err := metricsAddr(d.Metrics)
		if err != nil {
			bad("daemon.metrics", "%v", err)
		}
		d.Metrics = addr
	}
	if d.Socket != nil && *d.Socket != "" && !filepath.IsAbs(*d.Socket) {
		bad("daemon.socket", "must be an absolute path (or \"\" for no control socket), got %q", *d.Socket)
	}
	if d.SocketGroup != "" && d.Socket != nil && *d.Socket == "" {
		bad("daemon.socket_group", "set, but socket = \"\" turns the control socket off")
	}
}

// metricsAddr returns the listen address of a metrics setting: "HOST:PORT",
// ":PORT" or "PORT" (both on DefaultMetricsHost).
func metricsAddr(s string) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		host, port = "", s
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return "", fmt.Errorf("must be \"HOST:PORT\" or a port (1..65535) on %s, got %q", DefaultMetricsHost, s)
	}
	if host == "" {
		host = DefaultMetricsHost
	}
	return net.JoinHostPort(host, port), nil
}

// SocketPath returns the control socket's path, "" when turned off.
func (d *DaemonConfig) SocketPath() string {
	if d.Socket == nil {
		return control.DefaultSocket
	}
	return *d.Socket
}
