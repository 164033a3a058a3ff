package replay

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/ctlua/ctlua/engine"
)

// TestTableRelated checks the insertion rules of nf_ct_expect_related.
func TestTableRelated(t *testing.T) {
	spec := &engine.Spec{Policies: []engine.Policy{{Name: "a", MaxExpected: 2, Timeout: time.Minute}, {Name: "b", MaxExpected: 1, Timeout: time.Minute}}}
	m1 := &engine.Conn{ID: 1, Orig: engine.Tuple{SrcPort: 1}}
	m2 := &engine.Conn{ID: 2, Orig: engine.Tuple{SrcPort: 2}}
	x := func(port uint16, class uint32) engine.Expectation {
		return engine.Expectation{Class: class,
			Tuple: engine.Tuple{Src: netip.MustParseAddr("192.0.2.2"), Dst: netip.MustParseAddr("192.0.2.1"), Proto: engine.ProtoTCP, DstPort: port},
			Mask:  engine.Tuple{Src: fullMask(netip.MustParseAddr("192.0.2.2")), Dst: fullMask(netip.MustParseAddr("192.0.2.1")), DstPort: 0xffff, Proto: 0xff}}
	}
	type step struct {
		master *engine.Conn
		e      engine.Expectation
		err    error  // wrapped, or nil
		gone   string // reason of an expectation removed by this step, or ""
		live   int
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"equal expectation of the same master replaces", []step{
			{m1, x(5000, 0), nil, "", 1},
			{m1, x(5000, 0), nil, "replaced", 1},
		}},
		{"another master's clashes", []step{
			{m1, x(5000, 0), nil, "", 1},
			{m2, x(5000, 0), engine.ErrExpectClash, "", 1},
			{m2, x(5001, 0), nil, "", 2},
		}},
		{"equal one of another class is refused", []step{
			{m1, x(5000, 0), nil, "", 1},
			{m1, x(5000, 1), errSameOtherClass, "", 1},
		}},
		{"max_expected evicts the oldest of the class", []step{
			{m1, x(5000, 0), nil, "", 1},
			{m1, x(5001, 0), nil, "", 2},
			{m1, x(5002, 0), nil, "evicted", 2},
			{m1, x(5003, 1), nil, "", 3},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := newTable()
			tb.spec = spec
			for i, s := range tt.steps {
				tb.pending = nil
				err := tb.related(s.master, s.e)
				if s.err == nil && err != nil || s.err != nil && !errors.Is(err, s.err) {
					t.Fatalf("step %d: err %v, want %v", i, err, s.err)
				}
				gone := ""
				for _, ev := range tb.pending {
					if ev.Kind == EventExpectGone {
						gone = ev.Reason
					}
				}
				if gone != s.gone || len(tb.exps) != s.live {
					t.Fatalf("step %d: gone %q and %d live, want %q and %d", i, gone, len(tb.exps), s.gone, s.live)
				}
			}
		})
	}
}
