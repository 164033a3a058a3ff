package bindings

import (
	"net/netip"
	"os/exec"
	"strings"
	"testing"
)

func TestParseIfaceAddr(t *testing.T) {
	tests := []struct {
		in, addr, mask, brd string
		prefix              int
		secondary           bool
		err                 string
	}{
		{"192.0.2.1/24,brd=+", "192.0.2.1", "255.255.255.0", "192.0.2.255", 24, false, ""},
		{"192.0.2.1/24", "192.0.2.1", "255.255.255.0", "invalid IP", 24, false, ""},
		{"198.51.100.9/23,brd=198.51.101.255,name=eth1,secondary", "198.51.100.9", "255.255.254.0", "198.51.101.255", 23, true, ""},
		{"2001:db8::1/64", "2001:db8::1", "ffff:ffff:ffff:ffff::", "invalid IP", 64, false, ""},
		{"192.0.2.1", "", "", "", 0, false, "want ADDR/PREFIX"},
		{"192.0.2.1/24,bcast", "", "", "", 0, false, "unknown part"},
		{"192.0.2.1/24,brd=x", "", "", "", 0, false, "brd"},
	}
	for _, tt := range tests {
		a, err := ParseIfaceAddr(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: err = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || a.Addr.String() != tt.addr || a.Mask().String() != tt.mask || a.Broadcast.String() != tt.brd ||
			a.Prefix != tt.prefix || a.Secondary != tt.secondary {
			t.Errorf("%s: got %+v mask %s (%v)", tt.in, a, a.Mask(), err)
		}
	}
}

func TestMaskBits(t *testing.T) {
	for _, tt := range []struct {
		m    string
		bits int
		ok   bool
	}{
		{"255.255.255.0", 24, true}, {"0.0.0.0", 0, true}, {"255.255.255.255", 32, true},
		{"255.0.255.0", 0, false}, {"ffff:ffff::", 32, true}, {"ffff::1", 0, false},
	} {
		n, ok := maskBits(netip.MustParseAddr(tt.m))
		if n != tt.bits || ok != tt.ok {
			t.Errorf("maskBits(%s) = %d, %v, want %d, %v", tt.m, n, ok, tt.bits, tt.ok)
		}
	}
}

// TestHostAddrsMatchIP: the netlink dump agrees with `ip -o addr` on
// every IPv4 address, broadcast and secondary flag included.
func TestHostAddrsMatchIP(t *testing.T) {
	out, err := exec.Command("ip", "-o", "-4", "addr", "show").Output()
	if err != nil {
		t.Skipf("no ip command: %v", err) // the netlink side is still covered by the oracle
	}
	list, err := hostAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l) // 1: lo    inet 127.0.0.1/8 scope host lo ...
		p := netip.MustParsePrefix(f[3])
		var brd string
		for i := range f {
			if f[i] == "brd" {
				brd = f[i+1]
			}
		}
		found := false
		for _, a := range list {
			if a.Addr == p.Addr() && a.Prefix == p.Bits() {
				found = true
				if got := a.Broadcast; (brd == "") != !got.IsValid() || (brd != "" && got.String() != brd) {
					t.Errorf("%s: broadcast %v, ip says %q", p, got, brd)
				}
				if a.Secondary != strings.Contains(l, " secondary ") {
					t.Errorf("%s: secondary %v, ip says %q", p, a.Secondary, l)
				}
			}
		}
		if !found {
			t.Errorf("%s (%s) missing from the netlink dump %+v", p, f[1], list)
		}
	}
}
