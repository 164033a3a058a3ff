package oracle

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The SIP captures keep the raw `conntrack -E expect` output (.events,
// recorded by record-sip.sh) beside the .expect. In the call captures
// every expectation ends used by a media flow or the incoming call; in
// the teardown captures (testdata/teardown, outside
// TestReplayMatchesKernel's glob, which wants one related connection per
// expectation) every one ends removed by the helper: a refused
// registration, a refused and a cancelled call, a re-INVITE and a BYE.
// The replay must tell the same story, in the kernel's order (it removes
// the newest expectation first).

// sipData is the folder of the SIP captures.
func sipData() string { return filepath.Join(dataRoot(), "sip", "testdata") }

func TestSIPLifecycleMatchesKernel(t *testing.T) {
	helper := "../../scripts/sip/helper.lua"
	calls, _ := filepath.Glob(sipData() + "/*.pcap")
	teardown, _ := filepath.Glob(sipData() + "/teardown/*.pcap")
	if len(calls) == 0 || len(teardown) == 0 {
		t.Fatalf("captures missing: %d in testdata, %d in testdata/teardown", len(calls), len(teardown))
	}
	for _, pcap := range append(calls, teardown...) {
		base := strings.TrimSuffix(pcap, ".pcap")
		name, _ := filepath.Rel(sipData(), pcap)
		t.Run(name, func(t *testing.T) {
			want := readEvents(t, base+".events")
			if diff := cmp.Diff(want, replayLifecycle(t, helper, pcap)); diff != "" {
				t.Errorf("expectation life cycle differs from the kernel's (-kernel +ctlua):\n%s", diff)
			}
		})
	}
}

func TestSIPTeardownMatchesKernel(t *testing.T) {
	helper := "../../scripts/sip/helper.lua"
	captures, _ := filepath.Glob(sipData() + "/teardown/*.pcap")
	if len(captures) == 0 {
		t.Fatal("no teardown capture")
	}
	for _, pcap := range captures {
		t.Run(filepath.Base(pcap), func(t *testing.T) {
			want := readOracle(t, strings.TrimSuffix(pcap, ".pcap")+".expect")
			got, related := replayExpectations(t, helper, pcap)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("expectations differ from the kernel's (-kernel +ctlua):\n%s", diff)
			}
			if related != 0 {
				t.Errorf("%d related connections: the teardown capture has no media", related)
			}
		})
	}
}
