package daemon

import (
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig("c.toml", []byte(`
[daemon]
workers = 4
budget = "20ms"
on_exit = "disable"

[[helper]]
script = "ftp.lua"
queue = 3
l3 = ["ipv4"]
fail_open = false
[helper.options]
loose = true
depth = 2
[helper.policies.ftp]
max_expected = 2
timeout = "2m"
`))
	if err != nil {
		t.Fatal(err)
	}
	h := c.Helpers[0]
	if c.Daemon.Workers != 4 || c.Daemon.Budget.Duration != 20*time.Millisecond || c.Daemon.OnExit != "disable" ||
		*h.Queue != 3 || *h.FailOpen || h.L3[0] != "ipv4" {
		t.Fatalf("parsed %+v %+v", c.Daemon, h)
	}
	ov := h.Overrides()
	if ov.Options["loose"] != true || ov.Options["depth"] != 2.0 || ov.Policies["ftp"].Timeout != 2*time.Minute {
		t.Fatalf("overrides %+v", ov)
	}
	if _, err := ParseConfig("default", []byte(DefaultConfig)); err != nil {
		t.Fatalf("default config: %v", err)
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct{ name, text, want string }{
		{"syntax", "[[helper]]\nscript = \n", "c.toml:2:"},
		{"unknown field", "[[helper]]\nscript = \"a\"\nqueue = 0\ncolour = \"red\"\n", "c.toml:4: helper.colour: unknown field"},
		{"no helper", "[daemon]\nworkers = 1\n", "no [[helper]]"},
		{"missing queue", "[[helper]]\nscript = \"a\"\n", "helper[0].queue: required"},
		{"duplicate queue", "[[helper]]\nscript = \"a\"\nqueue = 1\n[[helper]]\nscript = \"b\"\nqueue = 1\n", "queue 1 is already used by helper[0]"},
		{"bad on_exit", "[daemon]\non_exit = \"explode\"\n[[helper]]\nscript = \"a\"\nqueue = 0\n", "c.toml:2: daemon.on_exit: must be"},
		{"bad verdict", "[[helper]]\nscript = \"a\"\nqueue = 0\ndefault_verdict = \"reject\"\n", "c.toml:4: helper[0].default_verdict"},
		{"bad l3", "[[helper]]\nscript = \"a\"\nqueue = 0\nl3 = [\"ipx\"]\n", "helper[0].l3: must list"},
		{"wrong type", "[[helper]]\nscript = \"a\"\nqueue = \"zero\"\n", "c.toml:3:"},
		{"bad budget", "[daemon]\nbudget = \"soon\"\n[[helper]]\nscript = \"a\"\nqueue = 0\n", "duration"},
		{"budget too small", "[daemon]\nbudget = \"3ns\"\n[[helper]]\nscript = \"a\"\nqueue = 0\n", "c.toml:2: daemon.budget: budget must be between 1ms and 10s, got 3ns"},
		{"negative budget", "[daemon]\nbudget = \"-1s\"\n[[helper]]\nscript = \"a\"\nqueue = 0\n", "daemon.budget: budget must be between"},
		{"budget too large", "[daemon]\nbudget = 60\n[[helper]]\nscript = \"a\"\nqueue = 0\n", "daemon.budget: budget must be between"},
		{"duplicate script", "[[helper]]\nscript = \"a\"\nqueue = 1\n[[helper]]\nscript = \"a\"\nqueue = 2\n", "helper[1].script: a is already run by helper[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig("c.toml", []byte(tt.text))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
