package cthelper

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestConstants checks the numbers this package spells out against the
// kernel's, so that it needs no x/sys/unix itself.
func TestConstants(t *testing.T) {
	for _, tt := range []struct {
		name      string
		got, want int
	}{
		{"IPv4", int(IPv4), unix.NFPROTO_IPV4},
		{"IPv6", int(IPv6), unix.NFPROTO_IPV6},
		{"TCP", int(TCP), unix.IPPROTO_TCP},
		{"UDP", int(UDP), unix.IPPROTO_UDP},
		{"netlinkNetfilter", netlinkNetfilter, unix.NETLINK_NETFILTER},
		{"subsysCTHelper", subsysCTHelper, unix.NFNL_SUBSYS_CTHELPER},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %d, want %d", tt.name, tt.got, tt.want)
		}
	}
}
