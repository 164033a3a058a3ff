package main

import (
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
