package bindings

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/ctlua/ctlua/engine"
	lua "github.com/yuin/gopher-lua"
)

// IfaceAddr is one address of a local interface, as the kernel keeps it
// (struct in_ifaddr): the broadcast address is the one configured
// (IFA_BROADCAST), invalid when none is ("ip addr add 192.0.2.1/24" sets
// none; "... brd +" sets the subnet's).
type IfaceAddr struct {
	Name      string     // interface (or label) name
	Addr      netip.Addr // the local address
	Prefix    int        // prefix length
	Broadcast netip.Addr // configured broadcast address, or invalid
	Secondary bool       // IFA_F_SECONDARY: not the primary address of its subnet
}

// Mask returns the address's netmask in address form.
func (a IfaceAddr) Mask() netip.Addr {
	bits := a.Addr.BitLen()
	b := make([]byte, bits/8)
	for i := 0; i < a.Prefix && i < bits; i++ {
		b[i/8] |= 0x80 >> uint(i%8)
	}
	m, _ := netip.AddrFromSlice(b)
	return m
}

// ifaces is where ctlua.iface reads the interface data: the host's
// addresses from netlink (the daemon), or a fixed list (SetInterfaces:
// replay, tests).
var ifaces = struct {
	sync.Mutex
	fixed  []IfaceAddr
	static bool
	cached []IfaceAddr
	at     time.Time
	err    error
}{}

// ifaceCacheTTL bounds how often the daemon dumps the addresses.
const ifaceCacheTTL = time.Second

// SetInterfaces makes ctlua.iface answer from list instead of the host's
// addresses: `ctlua replay --iface`, the oracle tests. nil goes back to
// the host's.
func SetInterfaces(list []IfaceAddr) {
	ifaces.Lock()
	defer ifaces.Unlock()
	ifaces.fixed, ifaces.static = list, list != nil
}

// Interfaces returns the addresses ctlua.iface answers from.
func Interfaces() ([]IfaceAddr, error) {
	ifaces.Lock()
	defer ifaces.Unlock()
	if ifaces.static {
		return ifaces.fixed, nil
	}
	if time.Since(ifaces.at) > ifaceCacheTTL {
		ifaces.cached, ifaces.err = hostAddrs()
		ifaces.at = time.Now()
	}
	return ifaces.cached, ifaces.err
}

// ParseIfaceAddr reads "ADDR/PREFIX[,brd=B|,brd=+][,name=N][,secondary]",
// the form of `ctlua replay --iface`: brd + is the subnet's broadcast
// address, as with `ip addr add ... brd +`.
func ParseIfaceAddr(s string) (IfaceAddr, error) {
	var a IfaceAddr
	parts := strings.Split(s, ",")
	p, err := netip.ParsePrefix(parts[0])
	if err != nil {
		return a, fmt.Errorf("interface address %q: want ADDR/PREFIX[,brd=B|+][,name=N][,secondary]: %v", s, err)
	}
	a.Addr, a.Prefix, a.Name = p.Addr(), p.Bits(), "if0"
	for _, kv := range parts[1:] {
		k, v, _ := strings.Cut(kv, "=")
		switch {
		case k == "brd" && v == "+":
			a.Broadcast = subnetBroadcast(p)
		case k == "brd":
			if a.Broadcast, err = netip.ParseAddr(v); err != nil {
				return a, fmt.Errorf("interface address %q: brd: %v", s, err)
			}
		case k == "name" && v != "":
			a.Name = v
		case k == "secondary" && v == "":
			a.Secondary = true
		default:
			return a, fmt.Errorf("interface address %q: unknown part %q (brd=, name=, secondary)", s, kv)
		}
	}
	return a, nil
}

// subnetBroadcast is the all-ones host part of p.
func subnetBroadcast(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> uint(i%8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// openIface builds ctlua.iface: what the local interfaces' addresses are,
// for helpers that need them (the kernel's broadcast helpers).
func openIface(L *lua.LState, _ *engine.Session) lua.LValue {
	find := func(fn string, match func(IfaceAddr, netip.Addr) bool) lua.LGFunction {
		return func(L *lua.LState) int {
			a, err := netip.ParseAddr(L.CheckString(1))
			if err != nil {
				L.ArgError(1, fn+": want an address: "+err.Error())
			}
			list, err := Interfaces()
			if err != nil {
				return fail(L, "%s: reading the interfaces: %v", fn, err)
			}
			for _, x := range list {
				if match(x, a.Unmap()) {
					L.Push(ifaceTable(L, x))
					return 1
				}
			}
			L.Push(lua.LNil)
			return 1
		}
	}
	return L.SetFuncs(L.NewTable(), map[string]lua.LGFunction{
		// by_broadcast: the first primary address whose configured
		// broadcast address is addr (the kernel's lookup in
		// nf_conntrack_broadcast_help).
		"by_broadcast": find("iface.by_broadcast", func(x IfaceAddr, a netip.Addr) bool {
			return !x.Secondary && x.Broadcast.IsValid() && x.Broadcast == a
		}),
		// by_addr: the entry of the local address addr.
		"by_addr": find("iface.by_addr", func(x IfaceAddr, a netip.Addr) bool { return x.Addr == a }),
	})
}

func ifaceTable(L *lua.LState, x IfaceAddr) *lua.LTable {
	t := L.CreateTable(0, 6)
	t.RawSetString("name", lua.LString(x.Name))
	t.RawSetString("addr", lua.LString(x.Addr.String()))
	t.RawSetString("prefix", lua.LNumber(x.Prefix))
	t.RawSetString("mask", lua.LString(x.Mask().String()))
	if x.Broadcast.IsValid() {
		t.RawSetString("broadcast", lua.LString(x.Broadcast.String()))
	}
	t.RawSetString("secondary", lua.LBool(x.Secondary))
	return t
}
