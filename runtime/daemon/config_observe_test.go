package daemon

import (
	"strings"
	"testing"

	"github.com/ctlua/ctlua/runtime/control"
)

const oneHelper = "[[helper]]\nscript = \"a\"\nqueue = 0\n"

func TestObserveConfig(t *testing.T) {
	tests := []struct {
		name, daemon    string
		metrics, socket string
		format          string
	}{
		{"defaults", "", "", control.DefaultSocket, "text"},
		{"port only", "metrics = \"9469\"", "127.0.0.1:9469", control.DefaultSocket, "text"},
		{"no host", "metrics = \":9100\"\nlog_format = \"json\"", "127.0.0.1:9100", control.DefaultSocket, "json"},
		{"all addresses", "metrics = \"[::]:9469\"", "[::]:9469", control.DefaultSocket, "text"},
		{"socket", "socket = \"/run/x/c.sock\"\nsocket_group = \"adm\"", "", "/run/x/c.sock", "text"},
		{"no socket", "socket = \"\"", "", "", "text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConfig("c.toml", []byte("[daemon]\n"+tt.daemon+"\n"+oneHelper))
			if err != nil {
				t.Fatal(err)
			}
			d := c.Daemon
			if d.Metrics != tt.metrics || d.SocketPath() != tt.socket || d.LogFormat != tt.format {
				t.Errorf("metrics %q, socket %q, log_format %q; want %q, %q, %q", d.Metrics, d.SocketPath(), d.LogFormat,
					tt.metrics, tt.socket, tt.format)
			}
		})
	}
}

func TestObserveConfigErrors(t *testing.T) {
	tests := []struct{ name, daemon, want string }{
		{"log format", "log_format = \"xml\"", `c.toml:3: daemon.log_format: must be "text" or "json", got "xml"`},
		{"metrics port", "metrics = \"localhost:http\"", `c.toml:3: daemon.metrics: must be "HOST:PORT" or a port (1..65535) on 127.0.0.1, got "localhost:http"`},
		{"metrics zero", "metrics = \"0\"", `c.toml:3: daemon.metrics: must be`},
		{"metrics type", "metrics = 9469", `c.toml:3:`},
		{"relative socket", "socket = \"ctlua.sock\"", `c.toml:3: daemon.socket: must be an absolute path (or "" for no control socket), got "ctlua.sock"`},
		{"group without socket", "socket = \"\"\nsocket_group = \"adm\"", `c.toml:4: daemon.socket_group: set, but socket = "" turns the control socket off`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig("c.toml", []byte("# observe\n[daemon]\n"+tt.daemon+"\n"+oneHelper))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}
