package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Mangle returns a copy of the packet p with n bytes of its L4 payload at
// off replaced by repl. The IP length fields and the IPv4, TCP and UDP
// checksums of the copy are recomputed, so the result can be handed to the
// kernel as is. IP options and IPv6 extension headers are kept unchanged.
func Mangle(p *Packet, off, n int, repl []byte) ([]byte, error) {
	payload := len(p.Data) - p.PayloadOff
	if off < 0 || n < 0 || off+n > payload {
		return nil, fmt.Errorf("mangle: range [%d,%d) outside payload of %d bytes", off, off+n, payload)
	}
	if p.Proto != ProtoTCP && p.Proto != ProtoUDP {
		return nil, fmt.Errorf("mangle: protocol %s not supported", ProtoName(p.Proto))
	}
	size := len(p.Data) - n + len(repl)
	if size > 0xffff {
		return nil, errors.New("mangle: packet would exceed 65535 bytes")
	}
	out := make([]byte, 0, size)
	out = append(out, p.Data[:p.PayloadOff+off]...)
	out = append(out, repl...)
	out = append(out, p.Data[p.PayloadOff+off+n:]...)
	fixLengthsAndChecksums(out, p.L4Off, p.Proto)
	return out, nil
}

// fixLengthsAndChecksums rewrites the IP length, the IPv4 header checksum,
// the UDP length and the L4 checksum of an IP packet whose L4 header starts
// at l4off.
func fixLengthsAndChecksums(b []byte, l4off int, proto uint8) {
	l4len := len(b) - l4off
	var pseudo uint32
	if b[0]>>4 == 4 {
		ihl := int(b[0]&0x0f) * 4
		binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
		b[10], b[11] = 0, 0
		binary.BigEndian.PutUint16(b[10:], ^fold(sum(b[:ihl], 0)))
		pseudo = sum(b[12:20], 0)
	} else {
		binary.BigEndian.PutUint16(b[4:], uint16(len(b)-40))
		pseudo = sum(b[8:40], 0)
	}
	pseudo += uint32(proto) + uint32(l4len)
	l4 := b[l4off:]
	var ck int
	switch proto {
	case ProtoTCP:
		ck = 16
	case ProtoUDP:
		binary.BigEndian.PutUint16(l4[4:], uint16(l4len))
		ck = 6
	}
	l4[ck], l4[ck+1] = 0, 0
	c := ^fold(sum(l4, pseudo))
	if proto == ProtoUDP && c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(l4[ck:], c)
}

func sum(b []byte, s uint32) uint32 {
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}
