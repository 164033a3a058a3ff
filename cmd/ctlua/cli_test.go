package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLI covers what every command shares: --help on stdout with the
// flags and status 0, help COMMAND, version, flags after the files.
func TestCLI(t *testing.T) {
	for _, c := range commands() {
		t.Run(c.name+" --help", func(t *testing.T) {
			out, errOut, st := ctlua(c.name, "--help")
			if st != exitOK || !strings.HasPrefix(out, "usage: ctlua "+c.name) || errOut != "" {
				t.Errorf("status %d\nstdout %s\nstderr %s", st, out, errOut)
			}
			help, _, st := ctlua("help", c.name)
			if st != exitOK || help != out {
				t.Errorf("help %s: status %d, differs from --help:\n%s", c.name, st, help)
			}
		})
	}
	out, _, st := ctlua("version")
	if st != exitOK || !strings.HasPrefix(out, "ctlua ") || !strings.Contains(out, "go1.") {
		t.Errorf("version: %d %q", st, out)
	}
	out, _, st = ctlua("help")
	if st != exitOK || !strings.Contains(out, "new NAME") || !strings.Contains(out, "test [-run") {
		t.Errorf("help: %d\n%s", st, out)
	}
	if _, errOut, st := ctlua("check", "--nope", ftp); st != exitUsage || !strings.Contains(errOut, "flag provided but not defined: -nope") ||
		!strings.Contains(errOut, "usage: ctlua check") {
		t.Errorf("bad flag: %d %s", st, errOut)
	}
	// Flags after and between the files.
	out, errOut, st := ctlua("replay", ftp, "--json", capture("ipv4-port.pcap"), "--port", "21")
	if st != exitOK || !strings.HasPrefix(out, "{") {
		t.Errorf("flags anywhere: %d %s\n%s", st, errOut, out)
	}
	if _, errOut, st := ctlua("replay", ftp, "--", capture("ipv4-port.pcap")); st != exitOK {
		t.Errorf("--: %d %s", st, errOut)
	}
}

// TestErrorsNameTheRightLine: a missing comma is reported with the line
// that lacks it, and a typo in the configuration against the TOML line.
func TestErrorsNameTheRightLine(t *testing.T) {
	dir := t.TempDir()
	syn := filepath.Join(dir, "syn.lua")
	os.WriteFile(syn, []byte("return {\n  name = \"x\",\n  l4 = \"tcp\"\n\n  ports = { 1 },\n}\n"), 0o644)
	_, errOut, st := ctlua("check", syn)
	if want := syn + ":5: syntax error near 'ports' (is a ',' missing at the end of line 3?)\n"; st != exitFailed || errOut != want {
		t.Errorf("status %d\n got %q\nwant %q", st, errOut, want)
	}
	for _, tt := range []struct{ toml, want string }{
		{"[[helper]]\nscript = \"builtin:ftp\"\nqueue = 0\n\n[helper.policies.ftpx]\nmax_expected = 2\n",
			":5: [[helper]] 1 (builtin:ftp): policy \"ftpx\": helper ftp declares no such policy"},
		{"[[helper]]\nscript = \"builtin:tftp\"\nqueue = 1\n[[helper]]\nscript = \"builtin:ftp\"\nqueue = 0\noptions = { loos = true }\n",
			":7: [[helper]] 2 (builtin:ftp): option \"loos\": helper ftp declares no such option"},
	} {
		cfg := filepath.Join(dir, "c.toml")
		os.WriteFile(cfg, []byte(tt.toml), 0o644)
		for _, args := range [][]string{{"replay", "--config", cfg, capture("ipv4-port.pcap")}, {"rules", "--config", cfg}} {
			_, errOut, st := ctlua(args...)
			if st != exitFailed || !strings.HasPrefix(errOut, cfg+tt.want) {
				t.Errorf("%s: status %d\n got %q\nwant %q", args[0], st, errOut, cfg+tt.want)
			}
		}
	}
}
