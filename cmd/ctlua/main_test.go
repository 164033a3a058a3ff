package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctlua/ctlua/runtime/cthelper"
)

func ctlua(args ...string) (stdout, stderr string, status int) {
	var o, e strings.Builder
	status = run(args, &o, &e)
	return o.String(), e.String(), status
}

func TestReplayTable(t *testing.T) {
	out, errOut, st := ctlua("replay", "../../scripts/ftp/helper.lua", "../../scripts/ftp/testdata/ipv4-pasv.pcap")
	if st != exitOK {
		t.Fatalf("status %d: %s", st, errOut)
	}
	for _, want := range []string{
		"227 Entering passive mode", "+1 expect", "expect tcp 192.0.2.1:* -> 192.0.2.2:",
		"RELATED tcp 192.0.2.1:", "3 expectations, 3 related connections, 0 script errors",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestReplayJSON(t *testing.T) {
	out, errOut, st := ctlua("replay", "--json", "../../scripts/ftp/helper.lua", "../../scripts/ftp/testdata/ipv6-eprt.pcap")
	if st != exitOK {
		t.Fatalf("status %d: %s", st, errOut)
	}
	kinds := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not JSON: %q", sc.Text())
		}
		kinds[m["type"].(string)]++
		if m["type"] == "expect" && (m["l3"] != "ipv6" || m["mask_dport"] != 65535.0 || m["helper"] != "ftp" || m["timeout"] != 300.0) {
			t.Errorf("expectation %v", m)
		}
	}
	if kinds["expect"] != 3 || kinds["related"] != 3 || kinds["summary"] != 1 || kinds["packet"] == 0 {
		t.Errorf("event counts %v", kinds)
	}
}

func TestReplayScriptErrorExitsNonZero(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.lua")
	os.WriteFile(bad, []byte(`return { name = "bad", l4 = "tcp", ports = {21},
  policies = {{name = "p", max_expected = 1, timeout = 1}},
  on_packet = function(pkt, conn)
    if pkt:len() > 0 then error("boom") end
  end }`), 0o644)
	out, errOut, st := ctlua("replay", bad, "../../scripts/ftp/testdata/ipv4-port.pcap")
	if st != exitFailed || !strings.Contains(out, "ERROR "+bad+":4: runtime error: boom") || !strings.Contains(errOut, "script errors") {
		t.Errorf("status %d\n%s\n%s", st, out, errOut)
	}
	_, _, st = ctlua("replay", bad, filepath.Join(dir, "missing.pcap"))
	if st != exitUsage {
		t.Errorf("missing capture: status %d", st)
	}
}

func TestReplayOptionAndPort(t *testing.T) {
	out, errOut, st := ctlua("replay", "--option", "loose=true", "--port", "2121", "../../scripts/ftp/helper.lua", "../../scripts/ftp/testdata/ipv4-port.pcap")
	if st != exitOK || !strings.Contains(out, "0 seen by the helper") {
		t.Errorf("--port 2121 should hide port 21 from the helper: status %d %s\n%s", st, errOut, out)
	}
	_, errOut, st = ctlua("replay", "--option", "nope=1", "../../scripts/ftp/helper.lua", "../../scripts/ftp/testdata/ipv4-port.pcap")
	if st != exitUsage || !strings.Contains(errOut, "declares no such option (declared: loose, pickup)") {
		t.Errorf("unknown option: status %d %s", st, errOut)
	}
}

func TestCheck(t *testing.T) {
	out, _, st := ctlua("check", "../../scripts/ftp/helper.lua", "../../scripts/tftp/helper.lua")
	if st != exitOK || !strings.Contains(out, "helper ftp") || !strings.Contains(out, "policy 0 ftp: max_expected 1, timeout 5m0s") ||
		!strings.Contains(out, "l3 ipv4+ipv6, l4 udp, ports [69]") {
		t.Errorf("status %d:\n%s", st, out)
	}
	for _, want := range []string{`match reply: payloads beginning with "227 ", "229 " (any case)`,
		"lines: the engine tracks where lines start", `match original: payloads beginning with "\x00\x01", "\x00\x02"` + "\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("check does not print %q:\n%s", want, out)
		}
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.lua")
	os.WriteFile(bad, []byte("return {\n  name = 'x',\n  l4 = 'icmp',\n}\n"), 0o644)
	_, errOut, st := ctlua("check", bad)
	if st != exitFailed || !strings.Contains(errOut, bad+":3: l4: must be \"tcp\", \"udp\" or a list of them") {
		t.Errorf("status %d: %s", st, errOut)
	}
	if _, _, st := ctlua("check"); st != exitUsage {
		t.Errorf("no args: status %d", st)
	}
}

func TestRulesAndUsage(t *testing.T) {
	out, errOut, st := ctlua("rules")
	if st != exitOK || !strings.Contains(out, `ct helper set "ftp-ip"`) {
		t.Errorf("rules: %d %s\n%s", st, errOut, out)
	}
	out, _, st = ctlua("rules", "--iptables")
	if st != exitOK || !strings.Contains(out, "iptables -t raw -A PREROUTING -p tcp --dport 21 -j CT --helper ftp") {
		t.Errorf("rules --iptables: %d\n%s", st, out)
	}
	if _, errOut, st := ctlua("frobnicate"); st != exitUsage || !strings.Contains(errOut, "unknown command") {
		t.Errorf("unknown command: %d %s", st, errOut)
	}
}

// TestRunWithoutKernelSupport: on a kernel without nfnetlink_cthelper
// (our development host), ctlua run must fail with the actionable message,
// not a stack trace. On a kernel with it, the VM suite covers ctlua run.
func TestRunWithoutKernelSupport(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to talk to nfnetlink")
	}
	if err := cthelper.Probe(nil); !errors.Is(err, cthelper.ErrNotSupported) {
		t.Skipf("this kernel has nfnetlink_cthelper (probe: %v): covered by tests/vm", err)
	}
	_, errOut, st := ctlua("run")
	if st != exitFailed || !strings.Contains(errOut, "CONFIG_NF_CT_NETLINK_HELPER") || !strings.Contains(errOut, "modprobe nfnetlink_cthelper") {
		t.Errorf("status %d: %s", st, errOut)
	}
}

func TestExampleConfig(t *testing.T) {
	out, errOut, st := ctlua("rules", "--config", "../../examples/ctlua.toml")
	if st != exitOK || !strings.Contains(out, `udp dport 69 ct helper set "tftp-ip"`) || !strings.Contains(out, `tcp dport 21 ct helper set "ftp-ip6"`) {
		t.Errorf("status %d %s\n%s", st, errOut, out)
	}
}
