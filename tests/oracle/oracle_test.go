// Package oracle compares the shipped Lua helpers with the kernel's own
// helpers: for every capture in scripts/*/testdata with a .expect file
// (recorded by record-ftp.sh, record-tftp.sh and record-sip.sh from the kernel's
// conntrack events for the same traffic), the replay must create the same
// expectations, in order. tests/oracle/live.sh records the traffic anew
// on the running kernel and runs the comparison on it. The twins of
// conntrackd's helpers are held to conntrackd's expectations instead
// (peers_test.go, .conntrackd files).
package oracle

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctlua/ctlua/bindings"
	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/runtime/replay"
	"github.com/ctlua/ctlua/stdlib"
	"github.com/google/go-cmp/cmp"
)

// expectation is one line of a .expect file.
type expectation struct {
	L3, Proto, Src, Dst      string
	Sport, Dport             uint16
	MaskSrc, MaskDst         string
	MaskSport, MaskDport     uint16
	MasterSrc, MasterDst     string
	MasterSport, MasterDport uint16
	Class                    uint32
	Helper                   string
	Timeout                  int
}

// dataRoot is where the captures are: laid out like scripts/, one folder
// per helper with its testdata. CTLUA_ORACLE_DIR replaces the committed
// fixtures with captures just recorded (tests/oracle/live.sh).
func dataRoot() string {
	if d := os.Getenv("CTLUA_ORACLE_DIR"); d != "" {
		return d
	}
	return "../../scripts"
}

// helperOf returns the shipped script of the helper whose testdata holds
// pcap.
func helperOf(pcap string) string {
	name := filepath.Base(filepath.Dir(filepath.Dir(pcap)))
	return filepath.Join("../../scripts", name, "helper.lua")
}

func TestReplayMatchesKernel(t *testing.T) {
	captures, _ := filepath.Glob(dataRoot() + "/*/testdata/*.pcap")
	n := 0
	for _, pcap := range captures {
		oracle := strings.TrimSuffix(pcap, ".pcap") + ".expect"
		if _, err := os.Stat(oracle); err != nil {
			continue
		}
		n++
		helper := helperOf(pcap)
		name := filepath.Base(filepath.Dir(filepath.Dir(pcap))) + "/" + filepath.Base(pcap)
		t.Run(name, func(t *testing.T) {
			want := readOracle(t, oracle)
			got, related := replayExpectations(t, helper, pcap)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("expectations differ from the kernel's (-kernel +ctlua):\n%s", diff)
			}
			if w := wantRelated(t, pcap, len(want)); related != w {
				t.Errorf("%d related connections, want %d (one per expectation, or SCENARIO.related)", related, w)
			}
		})
	}
	if n == 0 {
		t.Fatal("no capture with a kernel oracle (.expect) found")
	}
}

func readOracle(t *testing.T, path string) []expectation {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []expectation
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var raw map[string]any
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, fromMap(raw))
	}
	if len(out) == 0 {
		t.Fatalf("%s: empty oracle", path)
	}
	return out
}

func fromMap(m map[string]any) expectation {
	s := func(k string) string { v, _ := m[k].(string); return v }
	u := func(k string) uint16 { v, _ := m[k].(float64); return uint16(v) }
	c, _ := m["class"].(float64)
	to, _ := m["timeout"].(float64)
	return expectation{L3: s("l3"), Proto: s("proto"), Src: s("src"), Dst: s("dst"), Sport: u("sport"), Dport: u("dport"),
		MaskSrc: s("mask_src"), MaskDst: s("mask_dst"), MaskSport: u("mask_sport"), MaskDport: u("mask_dport"),
		MasterSrc: s("master_src"), MasterDst: s("master_dst"), MasterSport: u("master_sport"), MasterDport: u("master_dport"),
		Class: uint32(c), Helper: s("helper"), Timeout: int(to)}
}

// runReplay replays pcap through the helper script, handing every event
// to sink, and fails when the helper saw no packet or a script failed.
func runReplay(t *testing.T, helper, pcap string, sink func(replay.Event)) {
	t.Helper()
	rp := replay.New(replay.Options{})
	e, err := engine.New(engine.Config{Workers: 1, Modules: append(bindings.Default(), stdlib.Modules()...), Conntrack: rp.Conntrack(), Expecter: rp.Expecter()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	h, err := e.LoadFile(helper, nil)
	if err != nil {
		t.Fatal(err)
	}
	setIfaces(t, pcap)
	f, err := os.Open(pcap)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sum, err := rp.Run(context.Background(), e, h.Spec.Name, f, func(ev replay.Event) {
		if ev.Kind == replay.EventPacket && ev.Decision != nil && ev.Decision.Err != nil {
			t.Errorf("packet %d: %v", ev.Index, ev.Decision.Err)
		}
		sink(ev)
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Helped == 0 {
		t.Fatal("the helper saw no packet")
	}
}

func replayExpectations(t *testing.T, helper, pcap string) ([]expectation, int) {
	var got []expectation
	related := 0
	runReplay(t, helper, pcap, func(ev replay.Event) {
		switch ev.Kind {
		case replay.EventExpect:
			x := ev.Expect
			l3 := "ipv4"
			if x.Master.IsIPv6() {
				l3 = "ipv6"
			}
			got = append(got, expectation{L3: l3, Proto: engine.ProtoName(x.Tuple.Proto),
				Src: x.Tuple.Src.String(), Dst: x.Tuple.Dst.String(), Sport: x.Tuple.SrcPort, Dport: x.Tuple.DstPort,
				MaskSrc: x.Mask.Src.String(), MaskDst: x.Mask.Dst.String(), MaskSport: x.Mask.SrcPort, MaskDport: x.Mask.DstPort,
				MasterSrc: x.Master.Src.String(), MasterDst: x.Master.Dst.String(), MasterSport: x.Master.SrcPort, MasterDport: x.Master.DstPort,
				Class: x.Class, Helper: x.MasterHelper, Timeout: int(x.Timeout / time.Second)})
		case replay.EventRelated:
			related++
		}
	})
	return got, related
}
