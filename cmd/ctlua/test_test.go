package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFiles writes name -> content under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const echoHelper = `local expect = require("ctlua.expect")
return {
  name = "echo", l4 = "tcp", ports = { 7 },
  policies = { { name = "data", max_expected = 1, timeout = 60 } },
  on_packet = function(pkt, conn)
    print("saw", pkt:len())
    local i, j = pkt:find("PORT ")
    if i then
      local t = conn:tuple("reply")
      expect.create{ src = t.src, dst = t.dst, dport = tonumber(pkt:sub(j + 1, j + 4)) }
    end
  end,
}
`

const echoTests = `local testing = require("ctlua.testing")
function Test_pass(t)
  local c = testing.load("helper.lua"):conn{ dport = 7 }
  local d = c:send("original", "PORT 5000\r\n")
  t:eq(#d.expectations, 1)
  t:log("dport " .. d.expectations[1].dport)
end

function Test_fail(t)
  local c = testing.load("helper.lua"):conn{ dport = 7 }
  local d = c:send("original", "PORT 5000\r\n")
  t:eq(d.expectations[1].dport, 5001, "dport")
end

function Test_raise(t)
  error("boom")
end
`

func TestTestCommand(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"acme/helper.lua": echoHelper, "acme/helper_test.lua": echoTests})
	file := filepath.Join(dir, "acme", "helper_test.lua")
	tests := []struct {
		name   string
		args   []string
		status int
		want   []string
		not    []string
	}{
		{"one passes", []string{"test", "-run", "pass", filepath.Join(dir, "acme")}, exitOK,
			[]string{"ok  \t" + file, "(1 tests)"}, []string{"dport 5000", "FAIL"}},
		{"verbose shows logs and print", []string{"test", filepath.Join(dir, "acme"), "-v", "-run", "pass"}, exitOK,
			[]string{"=== RUN   Test_pass", "--- PASS: Test_pass", "helper_test.lua:6: dport 5000", "saw\t11"}, nil},
		{"failures name file and line", []string{"test", dir + "/..."}, exitFailed,
			[]string{"--- FAIL: Test_fail (" + file + ":9,", file + ":12: got 5000, want 5001 dport",
				"--- FAIL: Test_raise (" + file + ":15,", "boom", "FAIL\t" + file}, []string{"--- FAIL: Test_pass"}},
		{"no tests to run", []string{"test", "-run", "nothing", file}, exitOK, []string{"[no tests to run]"}, nil},
		{"no test files", []string{"test", t.TempDir()}, exitUsage, []string{"no *_test.lua files"}, nil},
		{"help", []string{"test", "--help"}, exitOK, []string{"usage: ctlua test", "-run", "-v"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, st := ctlua(tt.args...)
			all := out + errOut
			if st != tt.status {
				t.Errorf("status %d, want %d\n%s", st, tt.status, all)
			}
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("output lacks %q:\n%s", w, all)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(all, w) {
					t.Errorf("output has %q:\n%s", w, all)
				}
			}
		})
	}
}

// TestTestShippedHelpers runs the shipped helpers' tests through ctlua
// test: the same runner as go test ./scripts/.
func TestTestShippedHelpers(t *testing.T) {
	out, errOut, st := ctlua("test", "../../scripts/...")
	if st != exitOK || !strings.Contains(out, "ok  \t../../scripts/ftp/helper_test.lua") ||
		!strings.Contains(out, "ok  \t../../scripts/tftp/helper_test.lua") || strings.Contains(out, "FAIL") {
		t.Errorf("status %d\n%s%s", st, out, errOut)
	}
}
