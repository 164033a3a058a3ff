package replay

import (
	"encoding/binary"
	"net/netip"
	"sort"
	"time"
)

// Reassembly bounds, after the kernel's defaults (net.ipv4.ipfrag_time,
// ipfrag_high_thresh), scaled to a replay.
const (
	fragTimeout = 30 * time.Second
	maxDatagram = 65535
	maxPending  = 1024
)

// A defragmenter reassembles IPv4 and IPv6 fragments before conntrack, as
// the kernel does (nf_defrag_ipv4, nf_defrag_ipv6): a helper only ever
// sees whole datagrams. Overlapping fragments drop their datagram, as the
// kernel does.
type defragmenter struct {
	pending map[fragKey]*datagram
}

type fragKey struct {
	src, dst netip.Addr
	id       uint32
	proto    uint8 // IPv4 only
	v6       bool
}

type datagram struct {
	header []byte // the first fragment's headers (offset 0), when seen
	parts  []fragment
	total  int // payload length, known from the last fragment; -1 before
	first  time.Time
	bad    bool
}

type fragment struct {
	off  int
	data []byte
}

func newDefragmenter() *defragmenter { return &defragmenter{pending: map[fragKey]*datagram{}} }

// add takes one IP packet. It returns the packet itself when it is not a
// fragment, the reassembled datagram when ip completes one (and true), or
// nil.
func (d *defragmenter) add(ip []byte, ts time.Time) ([]byte, bool) {
	d.expire(ts)
	k, hdr, off, more, data, ok := fragmentOf(ip)
	if !ok {
		return ip, false
	}
	dg := d.pending[k]
	if dg == nil {
		if len(d.pending) >= maxPending {
			return nil, false
		}
		dg = &datagram{total: -1, first: ts}
		d.pending[k] = dg
	}
	if off == 0 {
		dg.header = hdr
	}
	if !more {
		dg.total = off + len(data)
	}
	for _, p := range dg.parts {
		if off < p.off+len(p.data) && p.off < off+len(data) {
			dg.bad = true
		}
	}
	dg.parts = append(dg.parts, fragment{off: off, data: data})
	if off+len(data) > maxDatagram {
		dg.bad = true
	}
	if dg.bad {
		delete(d.pending, k)
		return nil, false
	}
	full := dg.reassemble(k.v6)
	if full != nil {
		delete(d.pending, k)
	}
	return full, full != nil
}

// expire drops the datagrams whose first fragment is older than the
// timeout.
func (d *defragmenter) expire(now time.Time) {
	for k, dg := range d.pending {
		if now.Sub(dg.first) > fragTimeout {
			delete(d.pending, k)
		}
	}
}

// reassemble returns the whole datagram once every byte is there.
func (dg *datagram) reassemble(v6 bool) []byte {
	if dg.header == nil || dg.total < 0 {
		return nil
	}
	sort.Slice(dg.parts, func(i, j int) bool { return dg.parts[i].off < dg.parts[j].off })
	next := 0
	for _, p := range dg.parts {
		if p.off != next {
			return nil
		}
		next += len(p.data)
	}
	if next != dg.total {
		return nil
	}
	out := make([]byte, 0, len(dg.header)+dg.total)
	out = append(out, dg.header...)
	for _, p := range dg.parts {
		out = append(out, p.data...)
	}
	if v6 {
		binary.BigEndian.PutUint16(out[4:], uint16(len(out)-40))
		return out
	}
	binary.BigEndian.PutUint16(out[2:], uint16(len(out)))
	binary.BigEndian.PutUint16(out[6:], 0) // no MF, offset 0 (DF is cleared too)
	out[10], out[11] = 0, 0
	binary.BigEndian.PutUint16(out[10:], ^checksum(out[:len(dg.header)]))
	return out
}

func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}
