package scripts_test

import (
	"testing"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/engine/enginetest"
)

// sipInvite is an INVITE with an SDP body of one audio stream, as
// softphones send it.
const sipInvite = "INVITE sip:bob@192.0.2.2 SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK74bf9;rport\r\n" +
	"Max-Forwards: 70\r\n" +
	"From: \"Alice\" <sip:alice@192.0.2.1>;tag=9fxced76sl\r\n" +
	"To: <sip:bob@192.0.2.2>\r\n" +
	"Call-ID: 3848276298220188511@192.0.2.1\r\n" +
	"CSeq: 1 INVITE\r\n" +
	"Contact: <sip:alice@192.0.2.1:5060>\r\n" +
	"Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, MESSAGE, SUBSCRIBE, INFO\r\n" +
	"User-Agent: bench\r\n" +
	"Content-Type: application/sdp\r\n" +
	"Content-Length: 225\r\n" +
	"\r\n" +
	"v=0\r\n" +
	"o=alice 2890844526 2890844526 IN IP4 192.0.2.1\r\n" +
	"s=-\r\n" +
	"c=IN IP4 192.0.2.1\r\n" +
	"t=0 0\r\n" +
	"m=audio 49170 RTP/AVP 0 8 101\r\n" +
	"a=rtpmap:0 PCMU/8000\r\n" +
	"a=rtpmap:8 PCMA/8000\r\n" +
	"a=rtpmap:101 telephone-event/8000\r\n" +
	"a=fmtp:101 0-16\r\n" +
	"a=sendrecv\r\n"

// sipRinging is a provisional response without a body: the common
// non-SDP message.
const sipRinging = "SIP/2.0 180 Ringing\r\n" +
	"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK74bf9;rport=5060\r\n" +
	"From: \"Alice\" <sip:alice@192.0.2.1>;tag=9fxced76sl\r\n" +
	"To: <sip:bob@192.0.2.2>;tag=8321234356\r\n" +
	"Call-ID: 3848276298220188511@192.0.2.1\r\n" +
	"CSeq: 1 INVITE\r\n" +
	"Contact: <sip:bob@192.0.2.2:5060>\r\n" +
	"Content-Length: 0\r\n" +
	"\r\n"

// BenchmarkSIP measures the per-packet engine cost of the shipped SIP
// helper (Engine.Handle, packet in to decision out): an INVITE with SDP
// (flush of the call's media expectations, two inserted) and a 180
// Ringing without a body.
func BenchmarkSIP(b *testing.B) {
	x := &enginetest.Expecter{}
	e, err := engine.New(engine.Config{Workers: 1, Modules: modules(), Expecter: x})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	if _, err := e.LoadFile("sip/helper.lua", nil); err != nil {
		b.Fatal(err)
	}
	conn := enginetest.Conn(1, "192.0.2.1", "192.0.2.2", 5060, 5060, engine.ProtoUDP)
	conn.Helper = "sip"
	pkt := func(dir engine.Direction, payload string) *engine.Packet {
		s := enginetest.Segment{Src: "192.0.2.1", Dst: "192.0.2.2", Proto: engine.ProtoUDP, SrcPort: 5060, DstPort: 5060, Payload: payload}
		ctinfo := engine.CTEstablished
		if dir == engine.Reply {
			s.Src, s.Dst, ctinfo = s.Dst, s.Src, engine.CTEstablishedReply
		}
		return s.Packet(ctinfo)
	}
	cases := []struct {
		name   string
		pkt    *engine.Packet
		expect int
	}{
		{"INVITE-with-SDP", pkt(engine.Original, sipInvite), 2},
		{"180-without-SDP", pkt(engine.Reply, sipRinging), 0},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			x.Inserted = nil
			if d := e.Handle("sip", c.pkt, conn); len(x.Inserted) != c.expect || d.Err != nil || d.Verdict != engine.Accept {
				b.Fatalf("decision: %d expectations (want %d), verdict %v, err %v", len(x.Inserted), c.expect, d.Verdict, d.Err)
			}
			b.ReportAllocs()
			for b.Loop() {
				x.Inserted, x.Removed = x.Inserted[:0], x.Removed[:0]
				e.Handle("sip", c.pkt, conn)
			}
		})
	}
}
