package daemon

import (
	"strings"
	"testing"

	"github.com/ctlua/ctlua/engine"
)

func TestRules(t *testing.T) {
	rules := []Rule{
		{Spec: engine.Spec{Name: "ftp", Proto: engine.ProtoTCP}, IPv4: true, IPv6: true, Ports: []uint16{2121, 21}},
		{Spec: engine.Spec{Name: "tftp", Proto: engine.ProtoUDP}, IPv4: true, Ports: []uint16{69}},
	}
	var nft strings.Builder
	if err := WriteNFT(&nft, rules); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"ct helper ftp-ip {\n\t\ttype \"ftp\" protocol tcp\n\t\tl3proto ip\n\t}",
		"ct helper ftp-ip6 {\n\t\ttype \"ftp\" protocol tcp\n\t\tl3proto ip6\n\t}",
		"meta nfproto ipv4 tcp dport { 21, 2121 } ct helper set \"ftp-ip\"",
		"meta nfproto ipv6 tcp dport { 21, 2121 } ct helper set \"ftp-ip6\"",
		"meta nfproto ipv4 udp dport 69 ct helper set \"tftp-ip\"",
		"type filter hook prerouting priority filter; policy accept;",
		"type filter hook output priority filter; policy accept;",
	} {
		if !strings.Contains(nft.String(), want) {
			t.Errorf("nft ruleset lacks %q:\n%s", want, nft.String())
		}
	}
	if strings.Contains(nft.String(), "tftp-ip6") {
		t.Error("an IPv4-only helper got an IPv6 object")
	}
	var ipt strings.Builder
	if err := WriteIPTables(&ipt, rules); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"iptables -t raw -A PREROUTING -p tcp --dport 21 -j CT --helper ftp\n",
		"ip6tables -t raw -A OUTPUT -p tcp --dport 2121 -j CT --helper ftp\n",
		"iptables -t raw -A PREROUTING -p udp --dport 69 -j CT --helper tftp\n",
	} {
		if !strings.Contains(ipt.String(), want) {
			t.Errorf("iptables rules lack %q:\n%s", want, ipt.String())
		}
	}
}

// TestRulesTwoL4: a helper declared for TCP and UDP gets a ct helper
// object per protocol and family, named with the protocol, and a rule
// per protocol.
func TestRulesTwoL4(t *testing.T) {
	rules := []Rule{{Spec: engine.Spec{Name: "rpc", Proto: engine.ProtoTCP, Protos: []uint8{engine.ProtoTCP, engine.ProtoUDP}},
		IPv4: true, IPv6: true, Ports: []uint16{111}}}
	var nft strings.Builder
	if err := WriteNFT(&nft, rules); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"ct helper rpc-tcp-ip {\n\t\ttype \"rpc\" protocol tcp\n\t\tl3proto ip\n\t}",
		"ct helper rpc-udp-ip6 {\n\t\ttype \"rpc\" protocol udp\n\t\tl3proto ip6\n\t}",
		"meta nfproto ipv4 tcp dport 111 ct helper set \"rpc-tcp-ip\"",
		"meta nfproto ipv4 udp dport 111 ct helper set \"rpc-udp-ip\"",
		"meta nfproto ipv6 udp dport 111 ct helper set \"rpc-udp-ip6\"",
	} {
		if !strings.Contains(nft.String(), want) {
			t.Errorf("nft ruleset lacks %q:\n%s", want, nft.String())
		}
	}
	var ipt strings.Builder
	if err := WriteIPTables(&ipt, rules); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"iptables -t raw -A PREROUTING -p tcp --dport 111 -j CT --helper rpc\n",
		"ip6tables -t raw -A OUTPUT -p udp --dport 111 -j CT --helper rpc\n",
	} {
		if !strings.Contains(ipt.String(), want) {
			t.Errorf("iptables rules lack %q:\n%s", want, ipt.String())
		}
	}
}
