package nfq

import (
	"net/netip"
	"testing"

	"github.com/ctlua/ctlua/engine"
)

func TestObserve(t *testing.T) {
	pkt := engine.Packet{Data: append([]byte{0x45}, make([]byte, 79)...), Proto: engine.ProtoTCP,
		Src: netip.MustParseAddr("192.0.2.1"), Seq: 1000, CTInfo: engine.CTEstablished}
	reply := pkt
	reply.CTInfo = engine.CTEstablishedReply
	nat := engine.Conn{Status: engine.StatusSrcNAT}
	earlier := [2]SeqAdjust{{Pos: 500, Before: 0, After: 3}}
	tests := []struct {
		name string
		j    job
		d    engine.Decision
		want [2]SeqAdjust
	}{
		{"no rewrite: as reported", job{pkt: pkt, conn: nat, seqadj: earlier}, engine.Decision{Verdict: engine.Accept}, earlier},
		{"longer on a NAT'ed connection: the kernel's new adjustment", job{pkt: pkt, conn: nat, seqadj: earlier},
			engine.Decision{Verdict: engine.Accept, Packet: make([]byte, 85)}, [2]SeqAdjust{{Pos: 1000, Before: 3, After: 8}}},
		{"shorter, reply direction", job{pkt: reply, conn: nat},
			engine.Decision{Verdict: engine.Accept, Packet: make([]byte, 79)}, [2]SeqAdjust{{}, {Pos: 1000, Before: 0, After: -1}}},
		{"same length", job{pkt: pkt, conn: nat}, engine.Decision{Verdict: engine.Accept, Packet: make([]byte, 80)}, [2]SeqAdjust{}},
		{"not NAT'ed: the kernel does not adjust", job{pkt: pkt}, engine.Decision{Verdict: engine.Accept, Packet: make([]byte, 85)}, [2]SeqAdjust{}},
		{"dropped", job{pkt: pkt, conn: nat}, engine.Decision{Verdict: engine.Drop, Packet: make([]byte, 85)}, [2]SeqAdjust{}},
	}
	for _, tc := range tests {
		var got [2]SeqAdjust
		var saw *engine.Decision
		q := &Queue{cfg: Config{Observe: func(c *engine.Conn, adj [2]SeqAdjust, d *engine.Decision) { got, saw = adj, d }}}
		q.observe(&tc.j, &tc.d)
		if got != tc.want || saw != &tc.d {
			t.Errorf("%s: observed %+v, want %+v", tc.name, got, tc.want)
		}
	}
	(&Queue{}).observe(&job{pkt: pkt}, &engine.Decision{}) // no observer: nothing to call
}
