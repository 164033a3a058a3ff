package oracle

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/ctlua/ctlua/bindings"
)

// setIfaces hands ctlua.iface the interface addresses of the recording
// host, kept beside the capture as SCENARIO.iface (one
// `ctlua replay --iface` value a line; record-netbios-ns.sh writes it),
// and none when there is no such file: a replay never sees this host's
// interfaces. The broadcast helpers need them (the kernel reads the
// outgoing interface's netmask).
func setIfaces(t *testing.T, pcap string) {
	t.Helper()
	list := []bindings.IfaceAddr{}
	b, err := os.ReadFile(strings.TrimSuffix(pcap, ".pcap") + ".iface")
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, l := range strings.Fields(string(b)) {
		a, err := bindings.ParseIfaceAddr(l)
		if err != nil {
			t.Fatalf("%s.iface: %v", pcap, err)
		}
		list = append(list, a)
	}
	bindings.SetInterfaces(list)
	t.Cleanup(func() { bindings.SetInterfaces(nil) })
}

// TestBroadcastNeedsTheInterface: the netbios-ns capture expects nothing
// when ctlua.iface does not show what the kernel needs: cli's address
// without a configured broadcast address (`ip addr add` without brd), a
// broadcast address that is not the one queried, the query's source not
// a local address, or the subnet's address only secondary.
func TestBroadcastNeedsTheInterface(t *testing.T) {
	src, err := os.ReadFile("../../scripts/netbios-ns/testdata/ipv4-query.pcap")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, iface string }{
		{"no-brd", "192.0.2.1/24"},
		{"other-brd", "192.0.2.1/25,brd=+"},
		{"not-local", "192.0.2.7/24,brd=+"},
		{"secondary", "192.0.2.1/24,brd=+,secondary"},
		{"none", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir() + "/netbios-ns/testdata"
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			pcap := dir + "/q.pcap"
			os.WriteFile(pcap, src, 0o644)
			os.WriteFile(dir+"/q.iface", []byte(tt.iface+"\n"), 0o644)
			if got, _ := replayExpectations(t, helperOf(pcap), pcap); len(got) != 0 {
				t.Errorf("%d expectations with interface %q, want none: %+v", len(got), tt.iface, got)
			}
		})
	}
	// The control: the recorded interface gives the kernel's three.
	if got, _ := replayExpectations(t, "../../scripts/netbios-ns/helper.lua", "../../scripts/netbios-ns/testdata/ipv4-query.pcap"); len(got) != 3 {
		t.Errorf("%d expectations with the recorded interface, want 3", len(got))
	}
}

// wantRelated is the number of related connections the replay of pcap
// must show: one per expectation, or, for a permanent expectation that
// several hosts answer through (the broadcast helpers), the number of
// answers that passed the kernel's firewall in the recording, kept as
// SCENARIO.related.
func wantRelated(t *testing.T, pcap string, expectations int) int {
	b, err := os.ReadFile(strings.TrimSuffix(pcap, ".pcap") + ".related")
	if os.IsNotExist(err) {
		return expectations
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("%s.related: %v", pcap, err)
	}
	return n
}
