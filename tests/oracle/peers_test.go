package oracle

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestReplayCoversConntrackd compares the twins of conntrackd's helpers
// with conntrackd itself: for every capture in scripts/*/testdata with a
// .conntrackd file (conntrackd's [NEW] expectation events for that
// traffic, recorded in the VM by tests/peers/conntrackd-rpc-tns.sh and
// turned into JSON lines by expect2json.awk), the replay must create
// every expectation conntrackd created (tuple, masks, master, class,
// helper, timeout). It may create more: where conntrackd is wrong, the
// helpers' READMEs say why.
//
// The captures are always the committed ones: tests/oracle/live.sh
// records the kernel's helpers anew (CTLUA_ORACLE_DIR), not conntrackd,
// which runs only in the VM.
func TestReplayCoversConntrackd(t *testing.T) {
	captures, _ := filepath.Glob("../../scripts/*/testdata/*.pcap")
	n := 0
	for _, pcap := range captures {
		peer := strings.TrimSuffix(pcap, ".pcap") + ".conntrackd"
		if _, err := os.Stat(peer); err != nil {
			continue
		}
		n++
		name := filepath.Base(filepath.Dir(filepath.Dir(pcap))) + "/" + filepath.Base(pcap)
		t.Run(name, func(t *testing.T) {
			got, _ := replayExpectations(t, helperOf(pcap), pcap)
			for _, w := range readOracle(t, peer) {
				if !containsExpectation(got, w) {
					t.Errorf("conntrackd's expectation is missing from the replay: %+v\nreplay: %s", w, cmp.Diff(nil, got))
				}
			}
		})
	}
	if n == 0 {
		t.Fatal("no capture with conntrackd's expectations (.conntrackd) found")
	}
}

func containsExpectation(list []expectation, e expectation) bool {
	for _, x := range list {
		if x == e {
			return true
		}
	}
	return false
}
