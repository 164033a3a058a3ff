package scripts_test

import (
	"testing"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/engine/enginetest"
)

// BenchmarkFTP measures the per-packet engine cost of the shipped FTP
// helper: Engine.Handle from packet in to decision out, with the Lua call,
// the module calls and the decision.
func BenchmarkFTP(b *testing.B) {
	x := &enginetest.Expecter{}
	e, err := engine.New(engine.Config{Workers: 1, Modules: modules(), Expecter: x})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	if _, err := e.LoadFile("ftp/helper.lua", nil); err != nil {
		b.Fatal(err)
	}
	conn := enginetest.Conn(1, "192.0.2.1", "192.0.2.2", 40000, 21, 0)
	seg := func(seq uint32, payload string) *engine.Packet {
		return enginetest.Segment{Src: "192.0.2.1", Dst: "192.0.2.2", SrcPort: 40000, DstPort: 21,
			Seq: seq, Payload: payload}.Packet(engine.CTEstablished)
	}
	// Prime the newline tracking: after "USER" the next segment starts a line.
	user := "USER anonymous\r\n"
	e.Handle("ftp", seg(1000, user), conn)
	next := uint32(1000 + len(user))
	cases := []struct {
		name   string
		pkt    *engine.Packet
		expect int
	}{
		{"pure-ack", seg(next, ""), 0},
		{"non-command", seg(next, "LIST -la\r\n"), 0},
		{"PORT", seg(next, "PORT 192,0,2,1,195,80\r\n"), 1},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			x.Inserted = nil
			if d := e.Handle("ftp", c.pkt, conn); len(x.Inserted) != c.expect || d.Err != nil {
				b.Fatalf("decision: %d expectations (want %d), err %v", len(x.Inserted), c.expect, d.Err)
			}
			b.ReportAllocs()
			for b.Loop() {
				x.Inserted = x.Inserted[:0]
				e.Handle("ftp", c.pkt, conn)
			}
		})
	}
}
