package bindings

import (
	"fmt"
	"net/netip"

	lua "github.com/yuin/gopher-lua"
)

// expectSrcMask reads the optional src_mask field of an expectation: a
// netmask in address form ("255.255.255.0", "ffff:ffff::"), whose ones
// must be contiguous, replacing the full mask a src address gets. This is
// the kernel's broadcast pattern (nf_conntrack_broadcast_help): a request
// to a subnet's broadcast address expects the answers from any host of
// the subnet. It needs src, and returns mask unchanged when absent.
func expectSrcMask(t *lua.LTable, mask netip.Addr, ipv6 bool) (netip.Addr, error) {
	v := t.RawGetString("src_mask")
	if v == lua.LNil {
		return mask, nil
	}
	if t.RawGetString("src") == lua.LNil {
		return mask, fmt.Errorf("src_mask needs a src address")
	}
	s, ok := v.(lua.LString)
	if !ok {
		return mask, fmt.Errorf("src_mask must be a netmask string (e.g. \"255.255.255.0\"), got %s", v.Type())
	}
	m, err := netip.ParseAddr(string(s))
	if err != nil {
		return mask, fmt.Errorf("src_mask: %v", err)
	}
	if m.Is6() != ipv6 {
		return mask, fmt.Errorf("src_mask %s is not of the connection's family (%s)", m, family(ipv6))
	}
	if _, ok := maskBits(m); !ok {
		return mask, fmt.Errorf("src_mask %s is not a netmask (contiguous ones, then zeros)", m)
	}
	return m, nil
}

// maskBits returns the prefix length of a netmask, and whether m is one.
func maskBits(m netip.Addr) (int, bool) {
	b := m.AsSlice()
	n, zero := 0, false
	for _, c := range b {
		for i := 7; i >= 0; i-- {
			one := c>>uint(i)&1 == 1
			if one && zero {
				return 0, false
			}
			if one {
				n++
			} else {
				zero = true
			}
		}
	}
	return n, true
}
