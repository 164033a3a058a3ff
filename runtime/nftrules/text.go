package nftrules

import (
	"fmt"
	"io"
	"strings"

	"github.com/ctlua/ctlua/engine"
)

// WriteText writes the table as an nft script (`nft -f` loads it). It is
// what `ctlua rules` prints for admins who manage their ruleset themselves,
// and what [Install] creates.
func (t Table) WriteText(w io.Writer) error {
	if err := t.check(); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "table inet %s {\n", t.Name)
	for _, o := range t.Objects {
		fmt.Fprintf(&b, "\tct helper %s {\n\t\ttype %q protocol %s\n\t\tl3proto %s\n\t}\n",
			o.Name, o.Helper, engine.ProtoName(o.L4), o.Family.nft())
	}
	for _, c := range t.Chains {
		fmt.Fprintf(&b, "\tchain %s {\n\t\ttype filter hook %s priority filter; policy accept;\n", c.Name, c.Name)
		for _, r := range c.Rules {
			fmt.Fprintf(&b, "\t\tmeta nfproto %s %s dport %s ct helper set %q\n",
				r.Family.meta(), engine.ProtoName(r.L4), portSet(r.Ports), r.Object)
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// portSet writes sorted ports as nft does: one port alone, several as an
// anonymous set.
func portSet(p []uint16) string {
	if len(p) == 1 {
		return fmt.Sprint(p[0])
	}
	s := make([]string, len(p))
	for i, x := range p {
		s[i] = fmt.Sprint(x)
	}
	return "{ " + strings.Join(s, ", ") + " }"
}
