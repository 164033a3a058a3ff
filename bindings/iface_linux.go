package bindings

import (
	"fmt"
	"net"
	"net/netip"

	"syscall"
)

// hostAddrs dumps the host's IPv4 and IPv6 addresses over rtnetlink
// (RTM_GETADDR), with the configured broadcast address and the
// secondary flag that Go's net package does not give.
func hostAddrs() ([]IfaceAddr, error) {
	var out []IfaceAddr
	for _, fam := range []int{syscall.AF_INET, syscall.AF_INET6} {
		rib, err := syscall.NetlinkRIB(syscall.RTM_GETADDR, fam)
		if err != nil {
			return nil, fmt.Errorf("netlink RTM_GETADDR: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(rib)
		if err != nil {
			return nil, fmt.Errorf("netlink RTM_GETADDR: %w", err)
		}
		for _, m := range msgs {
			if a, ok := parseAddrMsg(m); ok {
				out = append(out, a)
			}
		}
	}
	return out, nil
}

// parseAddrMsg reads one RTM_NEWADDR message.
func parseAddrMsg(m syscall.NetlinkMessage) (IfaceAddr, bool) {
	var a IfaceAddr
	if m.Header.Type != syscall.RTM_NEWADDR || len(m.Data) < syscall.SizeofIfAddrmsg {
		return a, false
	}
	prefix, flags, index := int(m.Data[1]), m.Data[2], int(nativeUint32(m.Data[4:8]))
	attrs, err := syscall.ParseNetlinkRouteAttr(&m)
	if err != nil {
		return a, false
	}
	var addr, local netip.Addr
	for _, at := range attrs {
		v, _ := netip.AddrFromSlice(at.Value)
		switch at.Attr.Type {
		case syscall.IFA_ADDRESS:
			addr = v
		case syscall.IFA_LOCAL:
			local = v
		case syscall.IFA_BROADCAST:
			a.Broadcast = v
		case syscall.IFA_LABEL:
			a.Name = string(trimNul(at.Value))
		}
	}
	a.Addr = addr
	if local.IsValid() { // IPv4: IFA_LOCAL is the local address (IFA_ADDRESS the peer's on point-to-point links)
		a.Addr = local
	}
	if a.Name == "" {
		if ifi, err := net.InterfaceByIndex(index); err == nil {
			a.Name = ifi.Name
		}
	}
	a.Prefix, a.Secondary = prefix, flags&syscall.IFA_F_SECONDARY != 0
	return a, a.Addr.IsValid()
}

func nativeUint32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24 // little endian hosts (amd64, arm64)
}

func trimNul(b []byte) []byte {
	for i, c := range b {
		if c == 0 {
			return b[:i]
		}
	}
	return b
}
