package engine

import (
	"slices"
	"testing"
)

// TestL4List: a helper declared for TCP and UDP serves both, with the
// first listed as Proto; a single protocol still serves only itself.
func TestL4List(t *testing.T) {
	for _, c := range []struct {
		name, l4 string
		want     []uint8
	}{
		{"tcp", `"tcp"`, []uint8{ProtoTCP}},
		{"udp", `"udp"`, []uint8{ProtoUDP}},
		{"both", `{"tcp", "udp"}`, []uint8{ProtoTCP, ProtoUDP}},
		{"udp first", `{"udp", "tcp"}`, []uint8{ProtoUDP, ProtoTCP}},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := "return { name = 'x', l4 = " + c.l4 + ", policies = {{name = 'p', max_expected = 1, timeout = 1}}, on_packet = function() end }"
			e, err := New(Config{Workers: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			h, err := e.Check("x.lua", []byte(src), nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(h.Spec.L4s(), c.want) || h.Spec.Proto != c.want[0] {
				t.Fatalf("L4s %v, Proto %d; want %v", h.Spec.L4s(), h.Spec.Proto, c.want)
			}
			for _, p := range []uint8{ProtoTCP, ProtoUDP} {
				if got := h.Spec.Serves(false, p); got != slices.Contains(c.want, p) {
					t.Errorf("Serves(ipv4, %s) = %v", ProtoName(p), got)
				}
			}
		})
	}
}
