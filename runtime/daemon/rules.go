package daemon

import (
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/runtime/cthelper"
	"github.com/ctlua/ctlua/runtime/nftrules"
)

// A Rule names what attaches one helper to its connections: the helper
// (its kernel name, families and protocol) and the ports.
type Rule struct {
	Spec  engine.Spec
	IPv4  bool
	IPv6  bool
	Ports []uint16
}

// WriteNFT writes an nftables ruleset that attaches the helpers: the
// table that `rules = "install"` creates (runtime/nftrules, one model for
// both), with one `ct helper` object per helper and family (with an
// explicit l3proto, so that the kernel never tries to auto-load a module
// of the same name), and rules in prerouting and output chains that set
// them, at filter priority. The helpers must be registered (ctlua run)
// before this ruleset is loaded.
func WriteNFT(w io.Writer, rules []Rule) error {
	return NFTTable(rules).WriteText(w)
}

// NFTTable is the nftables model of the rules: table inet ctlua.
func NFTTable(rules []Rule) nftrules.Table {
	var hs []nftrules.Helper
	for _, r := range rules {
		l4s := r.Spec.L4s()
		for _, l4 := range l4s {
			h := nftrules.Helper{Name: r.Spec.Name, L4: l4, Ports: r.Ports}
			if len(l4s) > 1 {
				// A helper of several protocols gets an object per
				// protocol: NAME-udp-ip, NAME-tcp-ip6.
				h.Object = r.Spec.Name + "-" + engine.ProtoName(l4)
			}
			if r.IPv4 {
				h.Families = append(h.Families, nftrules.IPv4)
			}
			if r.IPv6 {
				h.Families = append(h.Families, nftrules.IPv6)
			}
			hs = append(hs, h)
		}
	}
	return nftrules.Build(nftrules.DefaultTable, hs)
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
