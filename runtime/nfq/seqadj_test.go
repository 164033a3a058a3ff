package nfq

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/ctlua/ctlua/engine"
)

// ackOffset returns the offset nf_ct_seq_adjust() subtracts from an ACK
// of the peer, with s the adjustment of the direction it acknowledges.
func (s seqAdjust) ackOffset(ack uint32) int32 {
	if seqBefore(s.Pos, ack-uint32(s.Before)) {
		return s.After
	}
	return s.Before
}

// kernel plays one verdict that rewrites the segment at seq (length n
// before, n+off after) through the kernel's buggy code with the planned
// correction: the plan's adjustment is set, the kernel updates with the
// misread number, the segment is adjusted on reinjection. It returns the
// sequence number the segment leaves with and the adjustment left.
func kernel(cur seqAdjust, seq uint32, off int32, misread uint32) (wire uint32, after seqAdjust) {
	s, raw := cur, seq
	if set, shift, ok := seqAdjPlan(cur, seq, off, misread); ok {
		s, raw = set, seq-uint32(shift)
	}
	s = s.set(misread, off) // nf_ct_tcp_seqadj_set with the misread number
	return raw + uint32(s.offset(raw)), s
}

// TestSeqAdjPlan plays chains of rewrites on one direction through the
// buggy kernel with the plan, and through a kernel that reads the right
// sequence number, and checks that the wire sees the same thing: the
// rewritten segment, a retransmission of it, the segments after it, and
// the peer's ACKs of them.
func TestSeqAdjPlan(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for chain := 0; chain < 20000; chain++ {
		var buggy, right seqAdjust
		seq := r.Uint32()
		for step := 0; step < 4; step++ {
			n := uint32(20 + r.IntN(60))
			off := int32(r.IntN(21)) - 10
			misread := r.Uint32()
			if r.IntN(8) == 0 {
				misread = seq // a kernel that reads it right
			}
			// The segment, then a retransmission of it (rewritten again).
			var wire uint32
			for try := 0; try < 1+r.IntN(2); try++ {
				wire, buggy = kernel(buggy, seq, off, misread)
			}
			right = right.set(seq, off)
			if want := seq + uint32(right.offset(seq)); wire != want {
				t.Fatalf("chain %d step %d (off %d, misread %#x, seq %#x): segment leaves as %#x, want %#x",
					chain, step, off, misread, seq, wire, want)
			}
			for _, k := range []uint32{0, 1, 1000, 1 << 20} {
				later := seq + n + k
				if got, want := buggy.offset(later), right.offset(later); got != want {
					t.Fatalf("chain %d step %d: segment %d bytes later shifted by %d, want %d", chain, step, n+k, got, want)
				}
				ack := later + uint32(right.offset(later))
				if got, want := buggy.ackOffset(ack), right.ackOffset(ack); got != want {
					t.Fatalf("chain %d step %d: ACK %d bytes later corrected by %d, want %d", chain, step, n+k, got, want)
				}
			}
			seq += n + uint32(r.IntN(3000))
		}
	}
}

func TestSetSeq(t *testing.T) {
	// A TCP header whose checksum covers only itself is enough to check
	// the incremental update against a full one.
	h := []byte{0x9c, 0x40, 0, 21, 1, 2, 3, 4, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0}
	full := func(b []byte) uint16 {
		var s uint32
		for i := 0; i < len(b); i += 2 {
			if i != 16 {
				s += uint32(b[i])<<8 | uint32(b[i+1])
			}
		}
		for s > 0xffff {
			s = s&0xffff + s>>16
		}
		return ^uint16(s)
	}
	c := full(h)
	h[16], h[17] = byte(c>>8), byte(c)
	for _, seq := range []uint32{0x01020303, 0, 0xffffffff, 0x80000000} {
		setSeq(h, 0, seq)
		if got := uint32(h[4])<<24 | uint32(h[5])<<16 | uint32(h[6])<<8 | uint32(h[7]); got != seq {
			t.Fatalf("seq %#x, want %#x", got, seq)
		}
		if got, want := uint16(h[16])<<8|uint16(h[17]), full(h); got != want && !(got == 0xffff && want == 0) && !(got == 0 && want == 0xffff) {
			t.Errorf("seq %#x: checksum %#04x, want %#04x", seq, got, want)
		}
	}
}

func TestMisreadSeq(t *testing.T) {
	// An IPv6 header, traffic class 0: ip_hdrlen() reads 0, so the kernel
	// takes payload length (0x0040), next header (6) and hop limit (63).
	ip6 := []byte{0x60, 0, 0, 0, 0x00, 0x40, 6, 63}
	ip6 = append(ip6, make([]byte, 32+20)...)
	if got, ok := misreadSeq(ip6); !ok || got != 0x0040063f {
		t.Errorf("misreadSeq(IPv6, tc 0) = %#x, %v; want 0x0040063f", got, ok)
	}
	// Traffic class 0xa0: the nibble says 10 words, 40 bytes, which is
	// where the TCP header of an IPv6 packet without extension headers is.
	tc := bytes.Clone(ip6)
	tc[0], tc[1] = 0x6a, 0
	copy(tc[44:], []byte{0xde, 0xad, 0xbe, 0xef})
	if got, _ := misreadSeq(tc); got != 0xdeadbeef {
		t.Errorf("misreadSeq(IPv6, tc 0xa0) = %#x, want 0xdeadbeef", got)
	}
	if _, ok := misreadSeq([]byte{0x6f, 0}); ok {
		t.Error("misreadSeq on a short packet reported a number")
	}
}

func TestNeedsSeqAdjFix(t *testing.T) {
	v6 := engine.Packet{Data: append([]byte{0x60}, make([]byte, 79)...), Proto: engine.ProtoTCP, Src: netip.MustParseAddr("2001:db8::1")}
	v4 := engine.Packet{Data: append([]byte{0x45}, make([]byte, 79)...), Proto: engine.ProtoTCP, Src: netip.MustParseAddr("192.0.2.1")}
	nat := engine.Conn{Status: engine.StatusSrcNAT}
	tests := []struct {
		name string
		j    job
		pkt  []byte
		want bool
	}{
		{"IPv6 NAT longer", job{pkt: v6, conn: nat}, make([]byte, 81), true},
		{"IPv6 NAT shorter", job{pkt: v6, conn: nat}, make([]byte, 79), true},
		{"IPv6 NAT same length", job{pkt: v6, conn: nat}, make([]byte, 80), false},
		{"IPv6 not NAT'ed (the kernel does not adjust)", job{pkt: v6, conn: engine.Conn{}}, make([]byte, 81), false},
		{"IPv4 (the kernel gets it right)", job{pkt: v4, conn: nat}, make([]byte, 81), false},
		{"unchanged packet", job{pkt: v6, conn: nat}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, got := needsSeqAdjFix(&tt.j, tt.pkt); got != tt.want {
				t.Errorf("needsSeqAdjFix = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestSeqAdjustMessage checks the ctnetlink update byte by byte, and
// decodes it with ti-mo/conntrack as an independent reading.
func TestSeqAdjustMessage(t *testing.T) {
	conn := &engine.Conn{Orig: engine.Tuple{Src: netip.MustParseAddr("2001:db8:1::1"), Dst: netip.MustParseAddr("2001:db8:2::2"),
		Proto: engine.ProtoTCP, SrcPort: 40000, DstPort: 21}}
	m, err := seqAdjustMessage(conn, engine.Reply, seqAdjust{Pos: 0x01020304, Before: -1, After: 2})
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.Type != 1<<8|0 {
		t.Errorf("type %#x, want IPCTNL_MSG_CT_NEW (0x100)", m.Header.Type)
	}
	if m.Header.Flags&0x400 != 0 || m.Header.Flags&0x200 != 0 {
		t.Errorf("flags %v: an update must not carry NLM_F_CREATE or NLM_F_EXCL", m.Header.Flags)
	}
	tail := []byte{
		28, 0, 16, 0x80, // CTA_SEQ_ADJ_REPLY, nested
		8, 0, 1, 0, 1, 2, 3, 4, // CTA_SEQADJ_CORRECTION_POS
		8, 0, 2, 0, 0xff, 0xff, 0xff, 0xff, // CTA_SEQADJ_OFFSET_BEFORE -1
		8, 0, 3, 0, 0, 0, 0, 2, // CTA_SEQADJ_OFFSET_AFTER 2
	}
	if !bytes.HasSuffix(m.Data, tail) {
		t.Errorf("message ends % x, want % x", m.Data[len(m.Data)-len(tail):], tail)
	}
	c, adj, err := decodeConn(10, m.Data[4:])
	if err != nil {
		t.Fatalf("decoding our own message: %v", err)
	}
	if c.Orig != conn.Orig {
		t.Errorf("tuple %v, want %v", c.Orig, conn.Orig)
	}
	if want := (seqAdjust{Pos: 0x01020304, Before: -1, After: 2}); adj[engine.Reply] != want || adj[engine.Original] != (seqAdjust{}) {
		t.Errorf("decoded adjustment %+v, want reply %+v", adj, want)
	}
}
