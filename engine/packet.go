package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// A Packet is one queued packet: the whole IP packet as the kernel handed it
// over, with its layers located.
type Packet struct {
	// Data holds the IP packet, starting at the IPv4 or IPv6 header.
	Data []byte
	// CTInfo says how the packet relates to its connection.
	CTInfo CTInfo
	// Proto is the L4 protocol (ProtoTCP, ProtoUDP, ...).
	Proto uint8
	// L4Off is the offset of the L4 header in Data; PayloadOff the offset
	// of the L4 payload.
	L4Off, PayloadOff int
	Src, Dst          netip.Addr
	SrcPort, DstPort  uint16
	// Seq, Ack and TCPFlags are set for TCP packets.
	Seq, Ack uint32
	TCPFlags uint8
}

// TCP flag bits as they appear in the TCP header.
const (
	TCPFin uint8 = 1 << 0
	TCPSyn uint8 = 1 << 1
	TCPRst uint8 = 1 << 2
	TCPPsh uint8 = 1 << 3
	TCPAck uint8 = 1 << 4
	TCPUrg uint8 = 1 << 5
)

// Dir returns the packet's direction within its connection.
func (p *Packet) Dir() Direction { return p.CTInfo.Direction() }

// Payload returns the L4 payload. It aliases Data.
func (p *Packet) Payload() []byte { return p.Data[p.PayloadOff:] }

// IsIPv6 reports whether the packet is IPv6.
func (p *Packet) IsIPv6() bool { return len(p.Data) > 0 && p.Data[0]>>4 == 6 }

// Tuple returns the packet's own 5-tuple.
func (p *Packet) Tuple() Tuple {
	return Tuple{Src: p.Src, Dst: p.Dst, Proto: p.Proto, SrcPort: p.SrcPort, DstPort: p.DstPort}
}

var errShort = errors.New("packet truncated")

// ParsePacket locates the layers of an IPv4 or IPv6 packet carrying TCP or
// UDP (other L4 protocols are located but not decoded). IPv6 extension
// headers are walked. The packet's CTInfo is left zero.
func ParsePacket(b []byte) (Packet, error) {
	p := Packet{Data: b}
	if len(b) < 1 {
		return p, fmt.Errorf("ip: %w", errShort)
	}
	var err error
	switch b[0] >> 4 {
	case 4:
		err = p.parseIPv4(b)
	case 6:
		err = p.parseIPv6(b)
	default:
		err = fmt.Errorf("ip: unknown version %d", b[0]>>4)
	}
	if err != nil {
		return p, err
	}
	return p, p.parseL4()
}

// parseIPv4 reads an IPv4 header: addresses, protocol, where layer 4
// starts; Data ends where the header's total length says.
func (p *Packet) parseIPv4(b []byte) error {
	if len(b) < 20 {
		return fmt.Errorf("ipv4 header: %w", errShort)
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:]))
	if ihl < 20 || total < ihl || total > len(b) {
		return fmt.Errorf("ipv4 header: bad lengths (ihl %d, total %d, have %d)", ihl, total, len(b))
	}
	if off := binary.BigEndian.Uint16(b[6:]) & 0x1fff; off != 0 {
		return errors.New("ipv4: non-first fragment")
	}
	p.Data = b[:total]
	p.Proto = b[9]
	p.Src = netip.AddrFrom4([4]byte(b[12:16]))
	p.Dst = netip.AddrFrom4([4]byte(b[16:20]))
	p.L4Off = ihl
	return nil
}

// parseIPv6 reads an IPv6 header and walks its extension headers to the
// layer 4 protocol.
func (p *Packet) parseIPv6(b []byte) error {
	if len(b) < 40 {
		return fmt.Errorf("ipv6 header: %w", errShort)
	}
	total := 40 + int(binary.BigEndian.Uint16(b[4:]))
	if total > len(b) {
		return fmt.Errorf("ipv6 header: payload length %d exceeds packet", total-40)
	}
	p.Data = b[:total]
	p.Src = netip.AddrFrom16([16]byte(b[8:24]))
	p.Dst = netip.AddrFrom16([16]byte(b[24:40]))
	next, off := b[6], 40
	for isIPv6Ext(next) {
		if off+8 > total {
			return fmt.Errorf("ipv6 extension header: %w", errShort)
		}
		if next == 44 { // fragment
			if binary.BigEndian.Uint16(b[off+2:])&0xfff8 != 0 {
				return errors.New("ipv6: non-first fragment")
			}
			next, off = b[off], off+8
			continue
		}
		n := b[off]
		l := (int(b[off+1]) + 1) * 8
		if next == 51 { // AH counts 4-byte units
			l = (int(b[off+1]) + 2) * 4
		}
		next, off = n, off+l
	}
	if off > total {
		return fmt.Errorf("ipv6 extension header: %w", errShort)
	}
	p.Proto = next
	p.L4Off = off
	return nil
}

// parseL4 reads the TCP or UDP header: ports, TCP's sequence numbers and
// flags, and where the payload starts.
func (p *Packet) parseL4() error {
	l4 := p.Data[p.L4Off:]
	switch p.Proto {
	case ProtoTCP:
		if len(l4) < 20 {
			return fmt.Errorf("tcp header: %w", errShort)
		}
		doff := int(l4[12]>>4) * 4
		if doff < 20 || doff > len(l4) {
			return fmt.Errorf("tcp header: bad data offset %d", doff)
		}
		p.SrcPort = binary.BigEndian.Uint16(l4)
		p.DstPort = binary.BigEndian.Uint16(l4[2:])
		p.Seq = binary.BigEndian.Uint32(l4[4:])
		p.Ack = binary.BigEndian.Uint32(l4[8:])
		p.TCPFlags = l4[13]
		p.PayloadOff = p.L4Off + doff
	case ProtoUDP:
		if len(l4) < 8 {
			return fmt.Errorf("udp header: %w", errShort)
		}
		p.SrcPort = binary.BigEndian.Uint16(l4)
		p.DstPort = binary.BigEndian.Uint16(l4[2:])
		p.PayloadOff = p.L4Off + 8
	default:
		p.PayloadOff = p.L4Off
	}
	return nil
}

func isIPv6Ext(n uint8) bool {
	switch n {
	case 0, 43, 44, 51, 60, 135, 139, 140:
		return true
	}
	return false
}
