package engine

import (
	"bytes"
	"testing"
)

// FuzzMatchWants checks Match.wants against its definition, written the
// slow way: ASCII letters folded when NoCase, a payload shorter than a
// prefix taken when it begins it.
func FuzzMatchWants(f *testing.F) {
	f.Add([]byte("port 1,2"), "PORT", true)
	f.Add([]byte("PO"), "PORT", false)
	f.Add([]byte("\x00\x01f"), "\x00\x01", false)
	f.Add([]byte("\xc0A"), "\xe0a", true)
	f.Fuzz(func(t *testing.T, payload []byte, prefix string, nocase bool) {
		if prefix == "" {
			return
		}
		m := Match{NoCase: nocase}
		m.Prefixes[Reply] = []string{prefix}
		lower := func(b []byte) []byte {
			if !nocase {
				return b
			}
			out := bytes.Clone(b)
			for i, c := range out {
				if c >= 'A' && c <= 'Z' {
					out[i] = c + 'a' - 'A'
				}
			}
			return out
		}
		p, pre := lower(payload), lower([]byte(prefix))
		want := bytes.HasPrefix(p, pre) || bytes.HasPrefix(pre, p)
		if got := m.wants(Reply, payload); got != want {
			t.Fatalf("wants(%q) with prefix %q nocase %v = %v, want %v", payload, prefix, nocase, got, want)
		}
		if m.wants(Original, payload) {
			t.Fatalf("the original direction has no prefix, yet %q matched", payload)
		}
	})
}
