package oracle

import (
	"path/filepath"
	"slices"
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
	for i, pcap := range append(calls, teardown...) {
		base := strings.TrimSuffix(pcap, ".pcap")
		name, _ := filepath.Rel(sipData(), pcap)
		byUse := i < len(calls)
		t.Run(name, func(t *testing.T) {
			want := readEvents(t, base+".events")
			got := replayLifecycle(t, helper, pcap)
			if byUse {
				want, got = sortDestroyRuns(want), sortDestroyRuns(got)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("expectation life cycle differs from the kernel's (-kernel +ctlua):\n%s", diff)
			}
		})
	}
}

// sortDestroyRuns sorts each run of consecutive DESTROY events by port.
// In the call captures an expectation ends when a media flow uses it, and
// when the two directions' flows start at once, the order the kernel saw
// them in at the firewall and the order the capture shows them in can
// differ (seen once for RTCP over IPv6). The teardown captures are
// compared in exact order: there the helper removes the expectations of
// one message, newest first.
func sortDestroyRuns(ev []lifecycle) []lifecycle {
	out := slices.Clone(ev)
	for i := 0; i < len(out); {
		j := i
		for j < len(out) && out[j].Kind == "DESTROY" {
			j++
		}
		slices.SortFunc(out[i:j], func(a, b lifecycle) int { return int(a.Dport) - int(b.Dport) })
		i = max(j, i+1)
	}
	return out
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
