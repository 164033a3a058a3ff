package scripts_test

import (
	"encoding/binary"
	"testing"

	"github.com/ctlua/ctlua/bindings"
	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/engine/enginetest"
)

// twinCase is one packet of a helper benchmark: its direction, payload
// and the expectations it must create.
type twinCase struct {
	name    string
	reply   bool
	payload string
	expect  int
}

// loadBench returns an engine with the shipped helper dir loaded, and the
// expecter that takes what it inserts at once; the engine closes with b.
func loadBench(b *testing.B, dir string) (*engine.Engine, *enginetest.Expecter) {
	x := &enginetest.Expecter{}
	e, err := engine.New(engine.Config{Workers: 1, Modules: modules(), Expecter: x})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(e.Close)
	if _, err := e.LoadFile(dir+"/helper.lua", nil); err != nil {
		b.Fatal(err)
	}
	return e, x
}

// benchPacket measures Engine.Handle of pkt on conn as the sub-benchmark
// name, after checking that the packet creates want expectations (sent
// with the verdict or inserted at once) without an error.
func benchPacket(b *testing.B, e *engine.Engine, x *enginetest.Expecter, dir, name string, pkt *engine.Packet, conn *engine.Conn, want int) {
	b.Run(name, func(b *testing.B) {
		x.Inserted = nil
		d := e.Handle(dir, pkt, conn)
		if n := len(d.Expectations) + len(x.Inserted); n != want || d.Err != nil {
			b.Fatalf("decision: %d expectations (want %d), err %v", n, want, d.Err)
		}
		b.ReportAllocs()
		for b.Loop() {
			x.Inserted = x.Inserted[:0]
			e.Handle(dir, pkt, conn)
		}
	})
}

// benchTwin measures Engine.Handle for the shipped helper dir on a
// connection client:sport -> server:dport, one sub-benchmark per case,
// the non-matching packets (what a helper sees most) first.
func benchTwin(b *testing.B, dir string, proto uint8, dport uint16, cases []twinCase) {
	e, x := loadBench(b, dir)
	conn := enginetest.Conn(1, "192.0.2.1", "192.0.2.2", 40000, dport, proto)
	for _, c := range cases {
		s := enginetest.Segment{Src: "192.0.2.1", Dst: "192.0.2.2", Proto: proto, SrcPort: 40000, DstPort: dport, Seq: 1000, Payload: c.payload}
		ctinfo := engine.CTEstablished
		if c.reply {
			s = enginetest.Segment{Src: "192.0.2.2", Dst: "192.0.2.1", Proto: proto, SrcPort: dport, DstPort: 40000, Seq: 1000, Payload: c.payload}
			ctinfo = engine.CTEstablishedReply
		}
		benchPacket(b, e, x, dir, c.name, s.Packet(ctinfo), conn, c.expect)
	}
}

func BenchmarkIRC(b *testing.B) {
	benchTwin(b, "irc", engine.ProtoTCP, 6667, []twinCase{
		{"pure-ack", false, "", 0},
		{"chat-line", false, "PRIVMSG #ctlua :see you at the meeting tomorrow\r\n", 0},
		{"from-server", true, ":irc.example.net 372 alice :- message of the day\r\n", 0},
		{"DCC-SEND", false, "PRIVMSG bob :\x01DCC SEND notes.txt 3221225985 50000 1234\x01\r\n", 1},
	})
}

func BenchmarkSANE(b *testing.B) {
	benchTwin(b, "sane", engine.ProtoTCP, 6566, []twinCase{
		{"pure-ack", false, "", 0},
		{"request", false, "\x00\x00\x00\x04\x00\x00\x00\x01", 0},
		{"image-reply", true, string(make([]byte, 1400)), 0},
	})
}

func BenchmarkAmanda(b *testing.B) {
	benchTwin(b, "amanda", engine.ProtoUDP, 10080, []twinCase{
		{"request", false, "Amanda 2.6 REQ HANDLE 000-6c7a0001 SEQ 1001\nSERVICE sendbackup\n", 0},
		{"ack", true, "Amanda 2.6 ACK HANDLE 000-6c7a0001 SEQ 1001\n", 0},
		{"CONNECT", true, "Amanda 2.6 REP HANDLE 000-6c7a0001 SEQ 1001\nCONNECT DATA 50001 MESG 50002 INDEX 50003\n", 3},
	})
}

// benchBroadcast measures a broadcast helper with a fixed interface
// (192.0.2.1/24, broadcast 192.0.2.255): a unicast query (the interface
// lookup finds nothing) and a query to the broadcast address.
func benchBroadcast(b *testing.B, dir string, port uint16) {
	a, err := bindings.ParseIfaceAddr("192.0.2.1/24,brd=+")
	if err != nil {
		b.Fatal(err)
	}
	bindings.SetInterfaces([]bindings.IfaceAddr{a})
	defer bindings.SetInterfaces(nil)
	e, x := loadBench(b, dir)
	for _, c := range []struct {
		name, dst string
		expect    int
	}{{"unicast", "192.0.2.2", 0}, {"broadcast", "192.0.2.255", 1}} {
		conn := enginetest.Conn(1, "192.0.2.1", c.dst, 40000, port, engine.ProtoUDP)
		pkt := enginetest.Segment{Src: "192.0.2.1", Dst: c.dst, Proto: engine.ProtoUDP, SrcPort: 40000, DstPort: port,
			Payload: "0123456789012345678901234567890123456789"}.Packet(engine.CTNew)
		benchPacket(b, e, x, dir, c.name, pkt, conn, c.expect)
	}
}

func BenchmarkNetbiosNS(b *testing.B) { benchBroadcast(b, "netbios-ns", 137) }
func BenchmarkSNMP(b *testing.B)      { benchBroadcast(b, "snmp", 161) }

// mcastCase is one packet of a multicast helper's benchmark: its
// connection's original tuple, the packet's ctinfo and direction, its
// payload and the expectations it must create.
type mcastCase struct {
	name, client, server string
	sport, dport         uint16
	ctinfo               engine.CTInfo
	payload              string
	expect               int
}

// benchMcast measures Engine.Handle for the shipped helper dir on UDP
// packets of their own connections, one sub-benchmark per case.
func benchMcast(b *testing.B, dir string, cases []mcastCase) {
	e, x := loadBench(b, dir)
	for i, c := range cases {
		conn := enginetest.Conn(uint32(i+1), c.client, c.server, c.sport, c.dport, engine.ProtoUDP)
		s := enginetest.Segment{Src: c.client, Dst: c.server, Proto: engine.ProtoUDP, SrcPort: c.sport, DstPort: c.dport, Payload: c.payload}
		if c.ctinfo == engine.CTEstablishedReply {
			s = enginetest.Segment{Src: c.server, Dst: c.client, Proto: engine.ProtoUDP, SrcPort: c.dport, DstPort: c.sport, Payload: c.payload}
		}
		benchPacket(b, e, x, dir, c.name, s.Packet(c.ctinfo), conn, c.expect)
	}
}

const mdnsQuery = "BB\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05mcsrv\x05local\x00\x00\x01\x00\x01"

func BenchmarkMDNS(b *testing.B) {
	benchMcast(b, "mdns", []mcastCase{
		{"answer-in-reply-direction", "192.0.2.1", "192.0.2.2", 40000, 5353, engine.CTEstablishedReply, mdnsQuery, 0},
		{"query", "192.0.2.1", "224.0.0.251", 40000, 5353, engine.CTNew, mdnsQuery, 1},
	})
}

func BenchmarkSLP(b *testing.B) {
	rq := "\x02\x01\x00\x00\x30\x20\x00\x00\x00\x00\x12\x34\x00\x02en\x00\x00\x00\x0fservice:printer\x00\x07DEFAULT\x00\x00\x00\x00"
	benchMcast(b, "slp", []mcastCase{
		{"answer-in-reply-direction", "192.0.2.1", "192.0.2.2", 40000, 427, engine.CTEstablishedReply, rq, 0},
		{"request", "192.0.2.1", "239.255.255.253", 40000, 427, engine.CTNew, rq, 1},
	})
}

func BenchmarkDHCPv6(b *testing.B) {
	renew := "\x05\x12\x34\x56\x00\x01\x00\x0a\x00\x03\x00\x01\x02\x00\x00\x00\x00\x01"
	benchMcast(b, "dhcpv6", []mcastCase{
		{"unicast-renew", "2001:db8::c", "2001:db8::2", 546, 547, engine.CTNew, renew, 0},
		{"solicit", "fe80::c", "ff02::1:2", 546, 547, engine.CTNew, "\x01" + renew[1:], 1},
	})
}

func BenchmarkSSDP(b *testing.B) {
	const alive = "NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nCACHE-CONTROL: max-age=1800\r\n" +
		"LOCATION: http://192.0.2.2:5000/rootDesc.xml\r\nNT: upnp:rootdevice\r\nNTS: ssdp:alive\r\n" +
		"SERVER: Debian/12 UPnP/1.1 MiniUPnPd/2.3.1\r\nUSN: uuid:3d3cec3a::upnp:rootdevice\r\n\r\n"
	const search = "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nST: ssdp:all\r\nMAN: \"ssdp:discover\"\r\nMX: 2\r\n\r\n"
	const answer = "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: upnp:rootdevice\r\nEXT:\r\n" +
		"SERVER: Debian/12 UPnP/1.1 MiniUPnPd/2.3.1\r\nLOCATION: http://192.0.2.2:5000/rootDesc.xml\r\nUSN: uuid:3d3cec3a::upnp:rootdevice\r\n\r\n"
	benchMcast(b, "ssdp", []mcastCase{
		{"NOTIFY-alive", "192.0.2.2", "239.255.255.250", 1900, 1900, engine.CTNew, alive, 0},
		{"M-SEARCH", "192.0.2.1", "239.255.255.250", 40000, 1900, engine.CTNew, search, 1},
		{"answer-LOCATION", "192.0.2.2", "192.0.2.1", 1900, 40000, engine.CTRelated, answer, 1},
	})
}

// rpcMsg builds an RPC message of 32-bit words; tcp prepends the record
// mark.
func rpcMsg(tcp bool, words ...uint32) string {
	b := make([]byte, 0, 4+4*len(words))
	if tcp {
		b = binary.BigEndian.AppendUint32(b, 0x80000000|uint32(4*len(words)))
	}
	for _, w := range words {
		b = binary.BigEndian.AppendUint32(b, w)
	}
	return string(b)
}

func BenchmarkRPC(b *testing.B) {
	benchTwin(b, "rpc", engine.ProtoUDP, 111, []twinCase{
		{"dump-call", false, rpcMsg(false, 7, 0, 2, 100000, 2, 4, 0, 0, 0, 0), 0},
		{"reply-other-xid", true, rpcMsg(false, 8, 1, 0, 0, 0, 0, 32765), 0},
		{"getport-call", false, rpcMsg(false, 7, 0, 2, 100000, 2, 3, 0, 0, 0, 0, 100024, 1, 17, 0), 0},
	})
}

func BenchmarkRPCTCP(b *testing.B) {
	benchTwin(b, "rpc", engine.ProtoTCP, 111, []twinCase{
		{"pure-ack", false, "", 0},
		{"dump-call", false, rpcMsg(true, 7, 0, 2, 100000, 2, 4, 0, 0, 0, 0), 0},
		{"dump-reply", true, rpcMsg(true, 7, 1, 0, 0, 0, 0, 1, 100000, 4, 6, 111, 0), 0},
	})
}

func BenchmarkTNS(b *testing.B) {
	redirect := "(DESCRIPTION=(ADDRESS=(PROTOCOL=tcp)(HOST=192.0.2.2)(PORT=40123)))"
	benchTwin(b, "tns", engine.ProtoTCP, 1521, []twinCase{
		{"pure-ack", false, "", 0},
		{"client-data", false, "\x00\x16\x00\x00\x06\x00\x00\x00\x00\x00select 1 from dual", 0},
		{"server-data", true, "\x00\x16\x00\x00\x06\x00\x00\x00\x00\x00" + string(make([]byte, 1200)), 0},
		{"REDIRECT", true, "\x00\x4e\x00\x00\x05\x00\x00\x00\x00\x44" + redirect, 1},
	})
}
