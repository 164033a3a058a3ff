package oracle

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/runtime/replay"
	"github.com/google/go-cmp/cmp"
)

// The TFTP captures keep, beside the .expect, the raw `conntrack -E
// expect` output (.events, recorded by record-tftp.sh). An expectation's
// life there is a [NEW] and a [DESTROY]: when a data flow used it, or when
// a retransmitted request replaced it (the kernel removes the pending
// expectation with the same tuple and master before adding the new one).
// The replay must tell the same story: an expectation, then a related
// connection or an eviction.

// tftpData is the folder of the TFTP captures.
func tftpData() string { return filepath.Join(dataRoot(), "tftp", "testdata") }

// lifecycle is one step of an expectation's life: "NEW" or "DESTROY" and
// the expected destination port.
type lifecycle struct {
	Kind  string
	Dport uint16
}

var eventLine = regexp.MustCompile(`^\s*\[(NEW|DESTROY)\] .*? dport=(\d+) `)

func readEvents(t *testing.T, path string) []lifecycle {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []lifecycle
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := eventLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		var port uint16
		fmt.Sscan(m[2], &port)
		out = append(out, lifecycle{m[1], port})
	}
	if len(out) == 0 {
		t.Fatalf("%s: no expectation event", path)
	}
	return out
}

func replayLifecycle(t *testing.T, helper, pcap string) []lifecycle {
	var out []lifecycle
	runReplay(t, helper, pcap, func(ev replay.Event) {
		switch ev.Kind {
		case replay.EventExpect:
			out = append(out, lifecycle{"NEW", ev.Expect.Tuple.DstPort})
		case replay.EventRelated:
			if ev.Expect.Flags&engine.ExpectPermanent == 0 { // a permanent one stays
				out = append(out, lifecycle{"DESTROY", ev.Expect.Tuple.DstPort})
			}
		case replay.EventExpectGone:
			out = append(out, lifecycle{"DESTROY", ev.Expect.Tuple.DstPort})
		}
	})
	return out
}

func TestTFTPLifecycleMatchesKernel(t *testing.T) {
	helper := "../../scripts/tftp/helper.lua"
	main, _ := filepath.Glob(tftpData() + "/*.pcap")
	retransmit, _ := filepath.Glob(tftpData() + "/retransmit/*.pcap")
	if len(main) == 0 || len(retransmit) == 0 {
		t.Fatalf("captures missing: %d in testdata, %d in testdata/retransmit", len(main), len(retransmit))
	}
	for _, pcap := range append(main, retransmit...) {
		base := strings.TrimSuffix(pcap, ".pcap")
		name, _ := filepath.Rel(tftpData(), pcap)
		t.Run(name, func(t *testing.T) {
			want := readEvents(t, base+".events")
			if diff := cmp.Diff(want, replayLifecycle(t, helper, pcap)); diff != "" {
				t.Errorf("expectation life cycle differs from the kernel's (-kernel +ctlua):\n%s", diff)
			}
		})
	}
}

// The retransmission captures are outside TestReplayMatchesKernel's glob
// (it wants one related connection per expectation): compare their
// expectations here, and check that they do hold a replaced expectation.
func TestTFTPRetransmitMatchesKernel(t *testing.T) {
	helper := "../../scripts/tftp/helper.lua"
	captures, _ := filepath.Glob(tftpData() + "/retransmit/*.pcap")
	if len(captures) == 0 {
		t.Fatal("no retransmission capture")
	}
	for _, pcap := range captures {
		t.Run(filepath.Base(pcap), func(t *testing.T) {
			want := readOracle(t, strings.TrimSuffix(pcap, ".pcap")+".expect")
			got, related := replayExpectations(t, helper, pcap)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("expectations differ from the kernel's (-kernel +ctlua):\n%s", diff)
			}
			if related < 1 || related >= len(want) {
				t.Errorf("%d related connections for %d expectations: want a data flow and a replaced expectation", related, len(want))
			}
		})
	}
}
