package daemon

import (
	"strings"
	"testing"
)

func TestParseHAConfig(t *testing.T) {
	const helper = "\n[[helper]]\nscript = \"ftp.lua\"\nqueue = 3\n"
	tests := []struct {
		name, daemon, ha string
		onExit, err      string
	}{
		{"on_exit defaults to keep", "", `listen = "10.9.0.1:7000"` + "\n" + `peer = "10.9.0.2:7000"`, "keep", ""},
		{"keep is fine", `on_exit = "keep"`, `listen = "10.9.0.1:7000"` + "\n" + `peer = "[2001:db8::2]:7000"`, "keep", ""},
		{"delete is refused", `on_exit = "delete"`, `listen = "10.9.0.1:7000"` + "\n" + `peer = "10.9.0.2:7000"`, "",
			`c.toml:3: daemon.on_exit: must be "keep" with [ha]`},
		{"peer required", "", `listen = "10.9.0.1:7000"`, "", `ha.peer: required: ADDR:PORT on the sync link, got ""`},
		{"listen needs a port", "", `listen = "10.9.0.1"` + "\n" + `peer = "10.9.0.2:7000"`, "", `ha.listen: required: ADDR:PORT`},
		{"unknown key", "", `listen = "10.9.0.1:7000"` + "\n" + `peer = "10.9.0.2:7000"` + "\nkey = 1", "", "ha.key: unknown field"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := "[daemon]\nbudget = \"50ms\"\n" + tc.daemon + "\n[ha]\n" + tc.ha + "\n" + helper
			c, err := ParseConfig("c.toml", []byte(src))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Daemon.OnExit != tc.onExit || c.HA == nil || c.startupExit() != "keep" {
				t.Errorf("on_exit %q, ha %+v; want %q", c.Daemon.OnExit, c.HA, tc.onExit)
			}
		})
	}
	c, err := ParseConfig("c.toml", []byte(helper))
	if err != nil || c.HA != nil || c.Daemon.OnExit != "delete" || c.startupExit() != "delete" {
		t.Errorf("without [ha]: %+v, %v; want no HA and on_exit delete", c, err)
	}
}

// TestHAExample keeps examples/ha/ctlua.toml valid.
func TestHAExample(t *testing.T) {
	c, err := LoadConfig("../../examples/ha/ctlua.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.HA == nil || c.Daemon.OnExit != "keep" || c.Helpers[0].Options["pickup"] != true {
		t.Errorf("example: ha %+v, on_exit %q, options %v", c.HA, c.Daemon.OnExit, c.Helpers[0].Options)
	}
}
