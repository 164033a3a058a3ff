package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLint(t *testing.T) {
	members := lintMembers()
	tests := []struct {
		name, src string
		want      []string // "line:col: substring"
	}{
		{"clean helper", `local expect = require("ctlua.expect")
local function f(pkt) return pkt:len() end
return { on_packet = function(pkt, conn) expect.create{dst = conn:tuple().src}; return f(pkt) end }`, nil},
		{"missing require", `return { on_packet = function(pkt, conn)
  if options.get("loose") then return end
end }`, []string{"2:6: undefined global 'options'"}},
		{"read before set", `local n = count
count = 1
local function bump() count = count + 1 end
return { on_packet = function() bump() return n end }`, []string{"1:11: global 'count' is read before it is set"}},
		{"unused require", `local parse = require("ctlua.parse")
local log  = require("ctlua.log")
return { on_packet = function() log.info("x") end }`, []string{"1:7: unused require: local 'parse'"}},
		{"unknown members", `local expect = require("ctlua.expect")
return { on_packet = function(pkt, conn)
  expect.creat{}
  local x = pkt:lenght() + conn:idd()
end }`, []string{"3:10: unknown member 'expect.creat'", "4:17: unknown member 'pkt:lenght'", "4:33: unknown member 'conn:idd'"}},
		{"unknown module", `local x = require("log")
return { x = x }`, []string{"1:20: require of unknown module 'log'"}},
		{"print", `return { on_packet = function(pkt) print(pkt:len()) end }`, []string{"1:36: 'print' exists only"}},
		{"scopes", `local t = {}
for i, v in ipairs(t) do t[i] = v end
do local y = 1; t.y = y end
repeat local z = 1 until z == 1
return { t = t, y = y }`, []string{"5:21: undefined global 'y'"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			found, err := lint("x.lua", []byte(tt.src), members)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range found {
				got = append(got, fmt.Sprintf("%d:%d: %s", f.line, f.col, f.msg))
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d findings, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("finding %d: got %q, want %q...", i, got[i], w)
				}
			}
		})
	}
}

func TestCheckLints(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "h.lua")
	os.WriteFile(f, []byte(`return { name = "h", l4 = "tcp", policies = {{name = "p", max_expected = 1, timeout = 1}},
  on_packet = function(pkt, conn)
    if options.get("x") then return end
  end }
`), 0o644)
	out, errOut, st := ctlua("check", f)
	if st != exitFailed || !strings.Contains(errOut, f+":3:8: undefined global 'options'") || !strings.Contains(out, "helper h") {
		t.Errorf("status %d\n%s%s", st, out, errOut)
	}
	if _, errOut, st := ctlua("check", "--lint=false", f); st != exitOK {
		t.Errorf("--lint=false: status %d %s", st, errOut)
	}
	// The shipped helpers are lint-clean, by name and as builtin.
	if out, errOut, st := ctlua("check", "builtin:ftp", "../../scripts/tftp/helper.lua"); st != exitOK {
		t.Errorf("shipped helpers: status %d\n%s%s", st, out, errOut)
	}
	if _, errOut, st := ctlua("check", "../../scripts/ftp/testdata/ipv4-port.pcap"); st != exitUsage || !strings.Contains(errOut, "is a capture, not a helper script") {
		t.Errorf("capture given to check: status %d %s", st, errOut)
	}
}
