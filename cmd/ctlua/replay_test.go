package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const ftp = "../../scripts/ftp/helper.lua"

func capture(name string) string { return "../../scripts/ftp/testdata/" + name }

// rewriter is a helper that logs with fields, prints and rewrites the
// first "PORT" of a segment to "port" (same length: allowed without NAT).
const rewriter = `local nat = require("ctlua.nat")
local log = require("ctlua.log")
return {
  name = "rw", l4 = "tcp", ports = { 21 },
  policies = { { name = "p", max_expected = 1, timeout = 60 } },
  on_packet = function(pkt, conn)
    local i, j = pkt:find("PORT ")
    if i then
      print("found at", i)
      log.info("rewriting", { at = i, cmd = "PORT" })
      assert(nat.replace(pkt, i, j - 1, "port"))
    end
  end,
}
`

func TestReplayFeatures(t *testing.T) {
	dir := t.TempDir()
	rw := filepath.Join(dir, "rw.lua")
	if err := os.WriteFile(rw, []byte(rewriter), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "ctlua.toml")
	os.WriteFile(cfg, []byte("[[helper]]\nscript = \"builtin:ftp\"\nqueue = 0\nports = [2121]\n\n[[helper]]\nscript = \"builtin:tftp\"\nqueue = 1\n"), 0o644)
	spin := filepath.Join(dir, "spin.lua")
	os.WriteFile(spin, []byte("return { name = 'spin', l4 = 'tcp', ports = {21}, policies = {{name = 'p', max_expected = 1, timeout = 1}},\n"+
		"  on_packet = function(pkt) if pkt:len() > 0 then while true do end end end }\n"), 0o644)
	cfgBudget := filepath.Join(dir, "budget.toml")
	os.WriteFile(cfgBudget, []byte("[daemon]\nbudget = \"7ms\"\n\n[[helper]]\nscript = \""+spin+"\"\nqueue = 0\n"), 0o644)
	cfg21 := filepath.Join(dir, "ctlua21.toml")
	os.WriteFile(cfg21, []byte("[[helper]]\nscript = \"builtin:tftp\"\nqueue = 1\n\n[[helper]]\nscript = \""+rw+"\"\nqueue = 0\n"), 0o644)
	tests := []struct {
		name   string
		args   []string
		status int
		want   []string
		not    []string
	}{
		{"expect holds", []string{ftp, capture("ipv4-pasv.pcap"), "--expect", "3", "--expect-related", "3"}, exitOK, nil, []string{"FAIL"}},
		{"expect fails", []string{"--expect", "2", ftp, capture("ipv4-pasv.pcap")}, exitFailed,
			[]string{"FAIL: 3 expectations, --expect 2"}, nil},
		{"expect-related fails", []string{ftp, "--expect-related", "0", capture("ipv4-pasv.pcap")}, exitFailed,
			[]string{"FAIL: 3 related connections, --expect-related 0"}, nil},
		{"hex dump with positions", []string{"--hex", "--packets", "6", ftp, capture("ipv6-eprt.pcap")}, exitOK,
			[]string{"   1  5553 4552 2061 6e6f 6e79 6d6f 7573 0d0a  USER anonymous.."}, []string{"\n    4 "}},
		{"ipv6 in brackets", []string{ftp, capture("ipv6-eprt.pcap")}, exitOK,
			[]string{"expect tcp [2001:db8::2]:* -> [2001:db8::1]:", "tcp [2001:db8::1]:"}, []string{"2001:db8::2:*"}},
		{"full text lines", []string{ftp, capture("ipv4-pasv.pcap"), "--packets", "1-20"}, exitOK,
			[]string{`| "257 \"/\" is the current directory.\r\n"`}, nil},
		{"filter by connection", []string{ftp, capture("ipv4-pasv.pcap"), "--conn", "2", "--all"}, exitOK,
			[]string{"RELATED"}, []string{"227 Entering"}},
		{"filter by port", []string{ftp, capture("ipv4-pasv.pcap"), "--show-port", "9"}, exitOK,
			nil, []string{"227 Entering"}},
		{"hint on wrong port", []string{ftp, capture("ipv4-pasv.pcap"), "--port", "2121"}, exitOK,
			[]string{"0 seen by the helper", "hint: no connection of the capture went to the helper's ports [2121]", "try --port 21"}, nil},
		{"logs with fields, print, rewrite", []string{rw, capture("ipv4-port.pcap")}, exitOK,
			[]string{`log info "rewriting" at=1 cmd=PORT`, "print: found at\t1", `rewritten: "port `, "mangled"}, nil},
		{"builtin helper", []string{"builtin:ftp", capture("ipv4-port.pcap"), "--expect", "3"}, exitOK, nil, nil},
		{"unknown builtin", []string{"builtin:nope", capture("ipv4-port.pcap")}, exitUsage, []string{"no such builtin helper (builtin: ", " ftp, ", " sip, ", " tftp", ")"}, nil},
		{"swapped arguments", []string{capture("ipv4-port.pcap"), ftp}, exitUsage, []string{"the helper comes first"}, nil},
		{"config with its ports", []string{"--config", cfg, capture("ipv4-port.pcap")}, exitOK,
			[]string{"0 seen by the helper", "hint: no connection of the capture went to the helper's ports [2121 69]"}, nil},
		{"config's budget", []string{"--config", cfgBudget, capture("ipv4-port.pcap"), "--packets", "1-8"}, exitFailed,
			[]string{"on_packet ran past its time budget (7ms)"}, nil},
		{"config with several helpers", []string{"--config", cfg21, capture("ipv4-port.pcap")}, exitOK,
			[]string{"mangled"}, nil},
		{"help exits 0", []string{"--help"}, exitOK, []string{"usage: ctlua replay", "-expect-related"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, st := ctlua(append([]string{"replay"}, tt.args...)...)
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

// TestReplayJSONLogs: log fields, prints, the whole payload and the hint
// are in the JSON lines too.
func TestReplayJSONLogs(t *testing.T) {
	rw := filepath.Join(t.TempDir(), "rw.lua")
	os.WriteFile(rw, []byte(rewriter), 0o644)
	out, errOut, st := ctlua("replay", "--json", "--hex", rw, capture("ipv4-port.pcap"))
	if st != exitOK {
		t.Fatalf("status %d: %s", st, errOut)
	}
	found := false
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var m struct {
			Type      string
			Logs      []jsonLog
			Prints    []string
			Rewritten string
			Hex       string
			Payload   string
		}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not JSON: %q", sc.Text())
		}
		if len(m.Logs) > 0 {
			found = true
			if m.Logs[0].Msg != "rewriting" || m.Logs[0].Fields["cmd"] != "PORT" || m.Logs[0].Fields["at"] != "1" ||
				len(m.Prints) != 1 || !strings.HasPrefix(m.Rewritten, "port ") || !strings.HasPrefix(m.Hex, "504f5254") ||
				!strings.HasSuffix(m.Payload, "\r\n") {
				t.Errorf("packet %s", sc.Text())
			}
		}
	}
	if !found {
		t.Errorf("no packet with logs:\n%s", out)
	}
	out, _, _ = ctlua("replay", "--json", "--port", "2121", ftp, capture("ipv4-port.pcap"))
	if !strings.Contains(out, `"hint":"hint: no connection`) {
		t.Errorf("no hint in the JSON summary:\n%s", out)
	}
}

// TestReplayWrite: --write produces a capture with the rewritten
// packets, which replays again.
func TestReplayWrite(t *testing.T) {
	dir := t.TempDir()
	rw := filepath.Join(dir, "rw.lua")
	os.WriteFile(rw, []byte(rewriter), 0o644)
	outPcap := filepath.Join(dir, "out.pcap")
	if _, errOut, st := ctlua("replay", rw, capture("ipv4-port.pcap"), "--write", outPcap); st != exitOK {
		t.Fatalf("status %d: %s", st, errOut)
	}
	out, errOut, st := ctlua("replay", "--all", ftp, outPcap)
	if st != exitOK {
		t.Fatalf("replaying the written capture: %d %s", st, errOut)
	}
	in, _, _ := ctlua("replay", "--all", ftp, capture("ipv4-port.pcap"))
	if !strings.Contains(out, `"port 192,`) || strings.Contains(out, `"PORT 192,`) || !strings.Contains(in, `"PORT 192,`) {
		t.Errorf("the written capture does not carry the rewritten commands:\n%s", out)
	}
	if strings.Count(out, "\n") != strings.Count(in, "\n") {
		t.Errorf("written capture has other packets: %d lines vs %d", strings.Count(out, "\n"), strings.Count(in, "\n"))
	}
}
