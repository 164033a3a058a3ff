package daemon

import (
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/runtime/cthelper"
)

// A Rule names what attaches one helper to its connections: the helper
// (its kernel name, families and protocol) and the ports.
type Rule struct {
	Spec  engine.Spec
	IPv4  bool
	IPv6  bool
	Ports []uint16
}

// WriteNFT writes an nftables ruleset that attaches the helpers: one
// `ct helper` object per helper and family (with an explicit l3proto, so
// that the kernel never tries to auto-load a module of the same name), and
// rules in prerouting and output chains that set them, at filter priority:
// nft sets the helper on the conntrack entry, which exists only after the
// conntrack hook (priority -200), unlike iptables -j CT in the raw table. The
// helpers must be registered (ctlua run) before this ruleset is loaded.
func WriteNFT(w io.Writer, rules []Rule) error {
	var b strings.Builder
	b.WriteString("table inet ctlua {\n")
	for _, r := range rules {
		for _, fam := range families(r) {
			for _, l4 := range r.Spec.L4s() {
				fmt.Fprintf(&b, "\tct helper %s {\n\t\ttype %q protocol %s\n\t\tl3proto %s\n\t}\n",
					objName(r, l4, fam), r.Spec.Name, engine.ProtoName(l4), fam)
			}
		}
	}
	for _, hook := range []string{"prerouting", "output"} {
		fmt.Fprintf(&b, "\tchain %s {\n\t\ttype filter hook %s priority filter; policy accept;\n", hook, hook)
		for _, r := range rules {
			if len(r.Ports) == 0 {
				continue
			}
			for _, fam := range families(r) {
				match := "meta nfproto ipv4"
				if fam == "ip6" {
					match = "meta nfproto ipv6"
				}
				for _, l4 := range r.Spec.L4s() {
					fmt.Fprintf(&b, "\t\t%s %s dport %s ct helper set %q\n", match,
						engine.ProtoName(l4), portSet(r.Ports), objName(r, l4, fam))
				}
			}
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteIPTables writes iptables and ip6tables commands that attach the
// helpers with the CT target in the raw table.
func WriteIPTables(w io.Writer, rules []Rule) error {
	var b strings.Builder
	for _, r := range rules {
		for _, fam := range families(r) {
			cmd := "iptables"
			if fam == "ip6" {
				cmd = "ip6tables"
			}
			for _, chain := range []string{"PREROUTING", "OUTPUT"} {
				for _, l4 := range r.Spec.L4s() {
					for _, p := range r.Ports {
						fmt.Fprintf(&b, "%s -t raw -A %s -p %s --dport %d -j CT --helper %s\n",
							cmd, chain, engine.ProtoName(l4), p, r.Spec.Name)
					}
				}
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func families(r Rule) []string {
	var f []string
	if r.IPv4 {
		f = append(f, "ip")
	}
	if r.IPv6 {
		f = append(f, "ip6")
	}
	return f
}

// objName names the ct helper object of a helper, family and L4
// protocol: NAME-ip or NAME-ip6, with the protocol inserted
// (NAME-udp-ip) for a helper that serves several.
func objName(r Rule, l4 uint8, fam string) string {
	name := r.Spec.Name
	if len(r.Spec.L4s()) > 1 {
		name += "-" + engine.ProtoName(l4)
	}
	if fam == "ip6" {
		return name + "-ip6"
	}
	return name + "-ip"
}

func portSet(ports []uint16) string {
	p := append([]uint16(nil), ports...)
	sort.Slice(p, func(i, j int) bool { return p[i] < p[j] })
	if len(p) == 1 {
		return fmt.Sprint(p[0])
	}
	s := make([]string, len(p))
	for i, x := range p {
		s[i] = fmt.Sprint(x)
	}
	return "{ " + strings.Join(s, ", ") + " }"
}

// RulesFor loads the configured scripts (without a kernel) and returns the
// rules that attach them.
func RulesFor(cfg *Config, modules []engine.Module, builtin fs.FS) ([]Rule, error) {
	e, err := engine.New(engine.Config{Workers: 1, Modules: modules})
	if err != nil {
		return nil, err
	}
	defer e.Close()
	var rules []Rule
	for _, hc := range cfg.Helpers {
		r := &helperRun{cfg: hc}
		file, src, err := r.source(cfg, builtin)
		if err != nil {
			return nil, err
		}
		h, err := e.Check(file, src, hc.Overrides())
		if err != nil {
			return nil, err
		}
		r.spec = h.Spec
		rule := Rule{Spec: h.Spec, Ports: h.Spec.Ports}
		for _, kh := range r.kernelHelpers() {
			rule.IPv4 = rule.IPv4 || kh.L3 == cthelper.IPv4
			rule.IPv6 = rule.IPv6 || kh.L3 == cthelper.IPv6
		}
		rules = append(rules, rule)
	}
	return rules, nil
}
