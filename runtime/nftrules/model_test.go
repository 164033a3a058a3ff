package nftrules

import (
	"strings"
	"testing"

	"github.com/ctlua/ctlua/engine"
	"github.com/google/go-cmp/cmp"
)

func TestBuild(t *testing.T) {
	got := Build("ctlua", []Helper{
		{Name: "ftp", L4: engine.ProtoTCP, Families: []Family{IPv4, IPv6}, Ports: []uint16{2121, 21, 2121}},
		{Name: "tftp", L4: engine.ProtoUDP, Families: []Family{IPv4}, Ports: []uint16{69}},
		{Name: "quiet", L4: engine.ProtoUDP, Families: []Family{IPv6}},
	})
	rules := []Rule{
		{Family: IPv4, L4: engine.ProtoTCP, Ports: []uint16{21, 2121}, Object: "ftp-ip"},
		{Family: IPv6, L4: engine.ProtoTCP, Ports: []uint16{21, 2121}, Object: "ftp-ip6"},
		{Family: IPv4, L4: engine.ProtoUDP, Ports: []uint16{69}, Object: "tftp-ip"},
	}
	want := Table{
		Name: "ctlua",
		Objects: []Object{
			{Name: "ftp-ip", Helper: "ftp", Family: IPv4, L4: engine.ProtoTCP},
			{Name: "ftp-ip6", Helper: "ftp", Family: IPv6, L4: engine.ProtoTCP},
			{Name: "tftp-ip", Helper: "tftp", Family: IPv4, L4: engine.ProtoUDP},
			{Name: "quiet-ip6", Helper: "quiet", Family: IPv6, L4: engine.ProtoUDP},
		},
		Chains: []Chain{{Name: "prerouting", Rules: rules}, {Name: "output", Rules: rules}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("Build (-want +got):\n%s", d)
	}
}

func TestWriteText(t *testing.T) {
	tab := Build("ctlua", []Helper{
		{Name: "ftp", L4: engine.ProtoTCP, Families: []Family{IPv4, IPv6}, Ports: []uint16{21, 2121}},
		{Name: "tftp", L4: engine.ProtoUDP, Families: []Family{IPv4}, Ports: []uint16{69}},
	})
	var b strings.Builder
	if err := tab.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := `table inet ctlua {
	ct helper ftp-ip {
		type "ftp" protocol tcp
		l3proto ip
	}
	ct helper ftp-ip6 {
		type "ftp" protocol tcp
		l3proto ip6
	}
	ct helper tftp-ip {
		type "tftp" protocol udp
		l3proto ip
	}
	chain prerouting {
		type filter hook prerouting priority filter; policy accept;
		meta nfproto ipv4 tcp dport { 21, 2121 } ct helper set "ftp-ip"
		meta nfproto ipv6 tcp dport { 21, 2121 } ct helper set "ftp-ip6"
		meta nfproto ipv4 udp dport 69 ct helper set "tftp-ip"
	}
	chain output {
		type filter hook output priority filter; policy accept;
		meta nfproto ipv4 tcp dport { 21, 2121 } ct helper set "ftp-ip"
		meta nfproto ipv6 tcp dport { 21, 2121 } ct helper set "ftp-ip6"
		meta nfproto ipv4 udp dport 69 ct helper set "tftp-ip"
	}
}
`
	if d := cmp.Diff(want, b.String()); d != "" {
		t.Fatalf("WriteText (-want +got):\n%s", d)
	}
}

func TestRefused(t *testing.T) {
	tests := []struct {
		name string
		tab  Table
		want string
	}{
		{"protocol without ports", Build("ctlua", []Helper{{Name: "x", L4: 132, Families: []Family{IPv4}, Ports: []uint16{9}}}),
			"nftables: rule for x-ip: protocol 132 has no ports to match"},
		{"unknown family", Table{Name: "ctlua", Objects: []Object{{Name: "x", Helper: "x", Family: 7, L4: engine.ProtoTCP}}},
			"nftables: object x: unknown family 7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := tt.tab.WriteText(&b); err == nil || err.Error() != tt.want {
				t.Fatalf("WriteText: %v, want %q", err, tt.want)
			}
			if err := Install(tt.tab, 0); err == nil || err.Error() != tt.want {
				t.Fatalf("Install: %v, want %q before touching the kernel", err, tt.want)
			}
		})
	}
}
