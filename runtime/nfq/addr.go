package nfq

import (
	"net/netip"

	"github.com/ctlua/ctlua/engine"
	"golang.org/x/sys/unix"
)

// addr4 returns the 4 bytes of an IPv4 address; an invalid address is
// 0.0.0.0.
func addr4(a netip.Addr) []byte {
	if !a.IsValid() {
		return make([]byte, 4)
	}
	b := a.Unmap().As4()
	return b[:]
}

// addr16 returns the 16 bytes of an IPv6 address; an invalid address is ::.
func addr16(a netip.Addr) []byte {
	if !a.IsValid() {
		return make([]byte, 16)
	}
	b := a.As16()
	return b[:]
}

// tupleFamily returns the nfgenmsg family of a tuple's addresses.
func tupleFamily(t engine.Tuple) uint8 {
	if t.IsIPv6() {
		return unix.AF_INET6
	}
	return unix.AF_INET
}
