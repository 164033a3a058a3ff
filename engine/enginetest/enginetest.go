// Package enginetest builds packets and connections for tests of helpers
// and of the engine, without a kernel or a capture.
package enginetest

import (
	"encoding/binary"
	"net/netip"

	"github.com/ctlua/ctlua/engine"
)

// A Segment describes a TCP or UDP packet to build.
type Segment struct {
	Src, Dst         string // addresses; IPv6 when they contain ':'
	Proto            uint8  // engine.ProtoTCP (default) or engine.ProtoUDP
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	Flags            uint8 // TCP flags; default ACK|PSH when Payload is set
	Payload          string
}

// Build returns the raw IP packet with correct lengths and checksums.
func (s Segment) Build() []byte {
	src, dst := netip.MustParseAddr(s.Src), netip.MustParseAddr(s.Dst)
	proto := s.Proto
	if proto == 0 {
		proto = engine.ProtoTCP
	}
	var l4 []byte
	if proto == engine.ProtoTCP {
		l4 = make([]byte, 20)
		binary.BigEndian.PutUint32(l4[4:], s.Seq)
		binary.BigEndian.PutUint32(l4[8:], s.Ack)
		l4[12] = 5 << 4
		flags := s.Flags
		if flags == 0 {
			flags = engine.TCPAck
			if s.Payload != "" {
				flags |= engine.TCPPsh
			}
		}
		l4[13] = flags
		binary.BigEndian.PutUint16(l4[14:], 65535)
	} else {
		l4 = make([]byte, 8)
	}
	binary.BigEndian.PutUint16(l4, s.SrcPort)
	binary.BigEndian.PutUint16(l4[2:], s.DstPort)
	l4 = append(l4, s.Payload...)
	var ip []byte
	if src.Is4() {
		ip = make([]byte, 20)
		ip[0] = 0x45
		ip[8] = 64
		ip[9] = proto
		copy(ip[12:], src.AsSlice())
		copy(ip[16:], dst.AsSlice())
	} else {
		ip = make([]byte, 40)
		ip[0] = 0x60
		ip[6] = proto
		ip[7] = 64
		copy(ip[8:], src.AsSlice())
		copy(ip[24:], dst.AsSlice())
	}
	pkt := append(ip, l4...)
	if src.Is4() {
		binary.BigEndian.PutUint16(pkt[2:], uint16(len(pkt)))
	} else {
		binary.BigEndian.PutUint16(pkt[4:], uint16(len(pkt)-40))
	}
	p, err := engine.ParsePacket(pkt)
	if err != nil {
		panic(err)
	}
	// Mangling nothing recomputes every length and checksum.
	out, err := engine.Mangle(&p, 0, 0, nil)
	if err != nil {
		panic(err)
	}
	return out
}

// Packet builds and parses the segment, with the given ctinfo.
func (s Segment) Packet(ctinfo engine.CTInfo) *engine.Packet {
	p, err := engine.ParsePacket(s.Build())
	if err != nil {
		panic(err)
	}
	p.CTInfo = ctinfo
	return &p
}

// Conn returns an established, confirmed connection from the client to
// the server, without NAT, with the given conntrack id.
func Conn(id uint32, client, server string, sport, dport uint16, proto uint8) *engine.Conn {
	if proto == 0 {
		proto = engine.ProtoTCP
	}
	orig := engine.Tuple{Src: netip.MustParseAddr(client), Dst: netip.MustParseAddr(server),
		Proto: proto, SrcPort: sport, DstPort: dport}
	return &engine.Conn{ID: id, Orig: orig, Reply: orig.Reverse(),
		Status: engine.StatusConfirmed | engine.StatusSeenReply | engine.StatusAssured}
}

// Checksums reports whether the IP header checksum (IPv4) and the TCP or
// UDP checksum of a raw packet are valid.
func Checksums(b []byte) bool {
	p, err := engine.ParsePacket(b)
	if err != nil {
		return false
	}
	var pseudo uint32
	if b[0]>>4 == 4 {
		if fold(sum(b[:p.L4Off], 0)) != 0xffff {
			return false
		}
		pseudo = sum(b[12:20], 0)
	} else {
		pseudo = sum(b[8:40], 0)
	}
	pseudo += uint32(p.Proto) + uint32(len(p.Data)-p.L4Off)
	return fold(sum(p.Data[p.L4Off:], pseudo)) == 0xffff
}

func sum(b []byte, s uint32) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}
