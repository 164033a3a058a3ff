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
	// A run of segments with consecutive sequence numbers, each starting
	// a line, as a client sends them: the engine's line tracking follows
	// them (a segment sent again and again would soon be forgotten as a
	// line start, as by the kernel). "USER" primes the tracking.
	const run = 256
	user := "USER anonymous\r\n"
	stream := func(payload string) []*engine.Packet {
		ps := []*engine.Packet{seg(1000, user)}
		next := uint32(1000 + len(user))
		for range run {
			ps = append(ps, seg(next, payload))
			next += uint32(len(payload))
		}
		return ps
	}
	cases := []struct {
		name    string
		payload string
		expect  int
	}{
		{"pure-ack", "", 0},
		{"non-command", "LIST -la\r\n", 0},
		{"PORT", "PORT 192,0,2,1,195,80\r\n", 1},
	}
	for _, c := range cases {
		ps := stream(c.payload)
		b.Run(c.name, func(b *testing.B) {
			e.Forget(conn.Key())
			e.Handle("ftp", ps[0], conn)
			x.Inserted = nil
			if d := e.Handle("ftp", ps[1], conn); len(x.Inserted) != c.expect || d.Err != nil {
				b.Fatalf("decision: %d expectations (want %d), err %v", len(x.Inserted), c.expect, d.Err)
			}
			b.ReportAllocs()
			i := 2
			for b.Loop() {
				if i == len(ps) {
					// Start the connection again: one packet in run.
					e.Forget(conn.Key())
					i = 0
				}
				x.Inserted = x.Inserted[:0]
				e.Handle("ftp", ps[i], conn)
				i++
			}
		})
	}
}
