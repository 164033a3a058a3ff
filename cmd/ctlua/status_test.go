package main

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/runtime/control"
	"github.com/ctlua/ctlua/runtime/nfq"
)

// statusDaemon is a control backend answering like a daemon with one
// helper that failed once and whose last reload was refused.
type statusDaemon struct{ reloaded []string }

func (d *statusDaemon) Status() control.Status {
	at := time.Date(2026, 12, 2, 3, 4, 5, 0, time.Local)
	var lat engine.Histogram
	lat.Buckets[2], lat.Buckets[6], lat.Count, lat.Sum = 98, 2, 100, 3*time.Millisecond
	h := control.HelperOf(&engine.Helper{Spec: engine.Spec{Name: "ftp", IPv4: true, Proto: engine.ProtoTCP},
		File: "/etc/ctlua/ftp.lua", Version: 2, Loaded: at},
		engine.Stats{Packets: 120, Accepted: 119, Dropped: 1, Expectations: 4, Errors: 1, Latency: lat, States: 3},
		[]engine.ErrorRecord{{Time: at, Kind: "runtime error", At: "/etc/ctlua/ftp.lua:12", Msg: "boom\nand more"}})
	h.Script, h.Queue = "ftp.lua", 3
	h.QueueCounters = control.QueueOf(nfq.Stats{Packets: 130, Verdicts: 130, ENOBUFS: 2})
	h.LastReload = &control.ReloadResult{Helper: "ftp", Time: at, Version: 2, Error: "/etc/ctlua/ftp.lua:3: syntax error"}
	return control.Status{Version: "v1.0", PID: 77, UptimeSeconds: 3725, Workers: 2, Helpers: []control.Helper{h}}
}

func (d *statusDaemon) Reload(name string) ([]control.ReloadResult, error) {
	d.reloaded = append(d.reloaded, name)
	return []control.ReloadResult{
		{Helper: "ftp", Loaded: true, Version: 3, SHA256: strings.Repeat("ab", 32)},
		{Helper: "tftp", Loaded: false, Version: 1, Error: "tftp.lua:2: name: bad"},
	}, nil
}

func statusSocket(t *testing.T) (string, *statusDaemon) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.sock")
	s, err := control.Listen(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	d := &statusDaemon{}
	s.Serve(d)
	t.Cleanup(func() { s.Close() })
	return path, d
}

func TestStatusTable(t *testing.T) {
	sock, _ := statusSocket(t)
	var out, errb bytes.Buffer
	if code := run([]string{"status", "--socket", sock}, &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{
		"ctlua v1.0, pid 77, up 1h2m5s, 2 workers",
		"HELPER  SCRIPT   SHA256",
		"ftp     ftp.lua  ",
		"  2        2026-12-02T03:04:05  120      119       1        4         1       0         0        0       3       30µs  ≤1ms",
		"3      ftp     130      130       0            2        0",
		"03:04:05  ftp  runtime error  /etc/ctlua/ftp.lua:12  boom and more",
		"03:04:05  ftp  not loaded, version 2 serves: /etc/ctlua/ftp.lua:3: syntax error",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status table lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if code := run([]string{"status", "--json", "--socket", sock}, &out, &errb); code != exitOK {
		t.Fatalf("--json: exit %d", code)
	}
	var st control.Status
	if err := json.Unmarshal(out.Bytes(), &st); err != nil || st.PID != 77 || st.Helpers[0].Counters.Packets != 120 {
		t.Errorf("--json: %v, %+v", err, st)
	}
}

func TestReloadCommand(t *testing.T) {
	sock, d := statusSocket(t)
	var out, errb bytes.Buffer
	code := run([]string{"reload", "--socket", sock, "ftp"}, &out, &errb)
	want := "ftp: loaded version 3 (sha256 abababababab)\ntftp: not loaded, version 1 keeps serving: tftp.lua:2: name: bad\n"
	if code != exitFailed || out.String() != want || d.reloaded[0] != "ftp" {
		t.Errorf("exit %d, output\n%s\nwant exit 1 and\n%s", code, out.String(), want)
	}
	if code := run([]string{"reload", "--socket", sock, "a", "b"}, &out, &errb); code != exitUsage {
		t.Errorf("two helpers: exit %d", code)
	}
}

func TestStatusWithoutDaemon(t *testing.T) {
	var out, errb bytes.Buffer
	sock := filepath.Join(t.TempDir(), "none.sock")
	if code := run([]string{"status", "--socket", sock}, &out, &errb); code != exitFailed || !strings.Contains(errb.String(), "is the daemon running") {
		t.Errorf("exit %d, %s", code, errb.String())
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"c.toml": "[daemon]\nsocket = \"\"\n[[helper]]\nscript = \"builtin:ftp\"\nqueue = 0\n"})
	cfg := filepath.Join(dir, "c.toml")
	errb.Reset()
	if code := run([]string{"reload", "--config", cfg}, &out, &errb); code != exitUsage || !strings.Contains(errb.String(), "has no control socket") {
		t.Errorf("a config without socket: exit %d, %s", code, errb.String())
	}
}

func TestQuantileBound(t *testing.T) {
	l := control.Latency{BoundsSeconds: []float64{1e-5, 1e-4}, Buckets: []uint64{90, 9, 1}, Count: 100}
	for _, tt := range []struct {
		q    float64
		want string
	}{{0.5, "≤10µs"}, {0.95, "≤100µs"}, {0.999, ">100µs"}} {
		if got := quantileBound(l, tt.q); got != tt.want {
			t.Errorf("q %v: %s, want %s", tt.q, got, tt.want)
		}
	}
	if quantileBound(control.Latency{}, 0.5) != "-" || meanLatency(control.Latency{}) != "-" {
		t.Error("no packets: want -")
	}
}

func TestFormatKernelExpect(t *testing.T) {
	x := nfq.KernelExpectation{ID: 9, Timeout: 297 * time.Second, Helper: "ftp", Class: 0, Flags: engine.ExpectPermanent | expectUserspace,
		Tuple:  engine.Tuple{Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("198.51.100.2"), Proto: engine.ProtoTCP, DstPort: 50000},
		Mask:   engine.Tuple{Src: netip.MustParseAddr("255.255.255.255"), Dst: netip.MustParseAddr("255.255.255.255"), DstPort: 0xffff, Proto: 0xff},
		Master: engine.Tuple{Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("198.51.100.2"), Proto: engine.ProtoTCP, SrcPort: 40000, DstPort: 21}}
	want := "[NEW] ftp timeout=297 proto=tcp src=192.0.2.1 dst=198.51.100.2 sport=0 dport=50000 mask-src=255.255.255.255 mask-dst=255.255.255.255 sport=0 dport=65535 master-src=192.0.2.1 master-dst=198.51.100.2 sport=40000 dport=21 class=0 policy=ftp flags=PERMANENT,USERSPACE"
	if got := formatKernelExpect("NEW", &x, "ftp"); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	f := &expectFilter{helpers: map[string]bool{"ftp": true}, policies: map[string][]string{"ftp": {"ftp"}}}
	var out bytes.Buffer
	p := expectPrinter{w: &out, json: true, f: f}
	p.print("", &x)
	other := x
	other.Helper = "sip"
	p.print("DESTROY", &other)
	var j map[string]any
	if err := json.Unmarshal(out.Bytes(), &j); err != nil || j["policy"] != "ftp" || j["dport"] != 50000.0 || j["master_dport"] != 21.0 ||
		j["timeout"] != 297.0 || j["id"] != 9.0 || strings.Count(out.String(), "\n") != 1 {
		t.Errorf("--json: %v, %s", err, out.String())
	}
}
