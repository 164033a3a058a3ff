// Package nftrules is the one model of the nftables ruleset that attaches
// ctlua's helpers to their connections. The same [Table] is printed as
// nft syntax (`ctlua rules`, [Table.WriteText]) and installed through
// nf_tables netlink messages ([Install], with github.com/google/nftables,
// no nft binary), so that the printed and the installed rules cannot
// drift apart.
package nftrules

import (
	"fmt"
	"slices"

	"github.com/ctlua/ctlua/engine"
	"golang.org/x/sys/unix"
)

// DefaultTable is the name of ctlua's table (family inet).
const DefaultTable = "ctlua"

// A Family is a layer 3 protocol as netfilter numbers it (NFPROTO_*).
type Family uint8

// The families a helper is attached for.
const (
	IPv4 Family = unix.NFPROTO_IPV4
	IPv6 Family = unix.NFPROTO_IPV6
)

// nft returns the family's name in a ct helper object ("ip", "ip6").
func (f Family) nft() string {
	if f == IPv6 {
		return "ip6"
	}
	return "ip"
}

// meta returns the family's name in a `meta nfproto` match.
func (f Family) meta() string {
	if f == IPv6 {
		return "ipv6"
	}
	return "ipv4"
}

// A Helper is one user-space helper to attach: its kernel name, layer 4
// protocol, families and destination ports. Object, if set, names its ct
// helper objects instead of Name (a helper registered for several
// protocols needs an object per protocol).
type Helper struct {
	Name     string
	L4       uint8
	Families []Family
	Ports    []uint16
	Object   string
}

// objectBase is what the helper's object names start with.
func (h Helper) objectBase() string {
	if h.Object != "" {
		return h.Object
	}
	return h.Name
}

// An Object is a `ct helper` object: it names the kernel helper for one
// family and protocol.
type Object struct {
	Name   string
	Helper string
	Family Family
	L4     uint8
}

// A Rule sets Object as the helper of new connections of Family and L4 to
// one of Ports (sorted).
type Rule struct {
	Family Family
	L4     uint8
	Ports  []uint16
	Object string
}

// A Chain is a base chain of the table at filter priority with policy
// accept: it only sets helpers, it never drops.
type Chain struct {
	// Name is also the hook: "prerouting" or "output".
	Name  string
	Rules []Rule
}

// A Table is the whole ruleset ctlua attaches its helpers with: a table of
// family inet with one ct helper object per helper and family, and rules
// in a prerouting and an output chain. The rules run at filter priority:
// nft sets the helper on the conntrack entry, which exists only after the
// conntrack hook (priority -200).
type Table struct {
	Name    string
	Objects []Object
	Chains  []Chain
}

// Build returns the table that attaches the helpers, named name. Helpers
// without ports get their objects but no rules.
func Build(name string, helpers []Helper) Table {
	t := Table{Name: name}
	for _, h := range helpers {
		for _, f := range h.Families {
			t.Objects = append(t.Objects, Object{Name: ObjectName(h.objectBase(), f), Helper: h.Name, Family: f, L4: h.L4})
		}
	}
	for _, hook := range []string{"prerouting", "output"} {
		c := Chain{Name: hook}
		for _, h := range helpers {
			if len(h.Ports) == 0 {
				continue
			}
			ports := slices.Clone(h.Ports)
			slices.Sort(ports)
			ports = slices.Compact(ports)
			for _, f := range h.Families {
				c.Rules = append(c.Rules, Rule{Family: f, L4: h.L4, Ports: ports, Object: ObjectName(h.objectBase(), f)})
			}
		}
		t.Chains = append(t.Chains, c)
	}
	return t
}

// ObjectName is the name of the ct helper object of helper (or of the
// Object a Helper names) for family f: "ftp-ip", "ftp-ip6".
func ObjectName(helper string, f Family) string {
	return helper + "-" + f.nft()
}

// check refuses what nftables cannot express: a protocol without ports,
// an unknown family.
func (t Table) check() error {
	for _, o := range t.Objects {
		if o.Family != IPv4 && o.Family != IPv6 {
			return fmt.Errorf("nftables: object %s: unknown family %d", o.Name, o.Family)
		}
	}
	for _, c := range t.Chains {
		for _, r := range c.Rules {
			if r.L4 != engine.ProtoTCP && r.L4 != engine.ProtoUDP {
				return fmt.Errorf("nftables: rule for %s: protocol %s has no ports to match", r.Object, engine.ProtoName(r.L4))
			}
		}
	}
	return nil
}
