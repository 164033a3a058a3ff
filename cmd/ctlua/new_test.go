package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/types"
)

func TestNew(t *testing.T) {
	dir := t.TempDir()
	for _, l4 := range []string{"tcp", "udp"} {
		t.Run(l4, func(t *testing.T) {
			d := filepath.Join(dir, "h"+l4)
			out, errOut, st := ctlua("new", "h"+l4, "--dir", d, "--l4", l4, "--port", "7000")
			if st != exitOK || !strings.Contains(out, "created "+filepath.Join(d, "helper.lua")) {
				t.Fatalf("status %d\n%s%s", st, out, errOut)
			}
			if out, errOut, st := ctlua("test", d); st != exitOK || !strings.Contains(out, "(3 tests)") {
				t.Errorf("ctlua test: %d\n%s%s", st, out, errOut)
			}
			if out, errOut, st := ctlua("check", filepath.Join(d, "helper.lua")); st != exitOK || !strings.Contains(out, "l4 "+l4+", ports [7000]") {
				t.Errorf("ctlua check (lint-clean): %d\n%s%s", st, out, errOut)
			}
			pcap := filepath.Join(d, "testdata", "h"+l4+".pcap")
			if out, errOut, st := ctlua("replay", "--expect", "1", "--expect-related", "1", filepath.Join(d, "helper.lua"), pcap); st != exitOK {
				t.Errorf("ctlua replay: %d\n%s%s", st, out, errOut)
			}
			defs, _ := fs.Glob(types.FS, "*.d.lua")
			for _, f := range defs {
				want, _ := fs.ReadFile(types.FS, f)
				got, err := os.ReadFile(filepath.Join(d, ".ctlua", "types", f))
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("%s not installed as shipped (%v)", f, err)
				}
			}
			if b, err := os.ReadFile(filepath.Join(d, ".luarc.json")); err != nil || !strings.Contains(string(b), `".ctlua/types"`) {
				t.Errorf(".luarc.json: %v %s", err, b)
			}
			readme, _ := os.ReadFile(filepath.Join(d, "README.md"))
			for _, section := range []string{"## Description", "## Policies", "## Options", "## Examples", "## Limits"} {
				if !bytes.Contains(readme, []byte(section)) {
					t.Errorf("README.md lacks %s", section)
				}
			}
		})
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"new", "Bad Name", "--port", "1"}, "want 1..15 lower-case letters"},
		{[]string{"new", "waytoolongahelpername", "--port", "1"}, "want 1..15"},
		{[]string{"new", "x", "--l4", "sctp", "--port", "1"}, `--l4 "sctp": want tcp or udp`},
		{[]string{"new", "x"}, "--port: required"},
		{[]string{"new", "--port", "1"}, "want one NAME"},
	} {
		if _, errOut, st := ctlua(tt.args...); st != exitUsage || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: status %d, want %q in %s", tt.args, st, tt.want, errOut)
		}
	}
	if _, errOut, st := ctlua("new", "htcp", "--dir", filepath.Join(dir, "htcp"), "--port", "1"); st != exitFailed || !strings.Contains(errOut, "already exists") {
		t.Errorf("existing directory: %d %s", st, errOut)
	}
}

// TestDaemonHasNoPrint: print is for replay and tests; the modules the
// daemon gets (modules()) leave it undefined.
func TestDaemonHasNoPrint(t *testing.T) {
	e, err := engine.New(engine.Config{Workers: 1, Modules: modules()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	const src = `%s
return { name = "p", l4 = "tcp", policies = {{name = "p", max_expected = 1, timeout = 1}}, on_packet = function() end }`
	if _, err := e.Check("p.lua", []byte(fmt.Sprintf(src, "local x = 1")), nil); err != nil {
		t.Fatalf("control: %v", err)
	}
	if _, err = e.Check("p.lua", []byte(fmt.Sprintf(src, `print("loading")`)), nil); err == nil || !strings.Contains(err.Error(), "p.lua:1: attempt to call") {
		t.Errorf("print while loading in the daemon's engine: %v", err)
	}
}
