package nfq

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/ctlua/ctlua/engine"
)

// kernelAfterFix plays the verdict of a rewrite of the segment at seq by
// off through the kernel's buggy code, with the planned correction: pre
// is set, the kernel updates with the misread number, the rewritten
// segment is adjusted, post is set. It returns the offset the segment got
// and the adjustment left at the end.
func kernelAfterFix(cur seqAdjust, seq uint32, off int32, misread uint32) (segment int32, final seqAdjust) {
	pre, post := seqAdjFix(cur, seq, off, misread)
	s := cur
	if pre != nil {
		s = *pre
	}
	s = s.set(misread, off) // nf_ct_tcp_seqadj_set with the misread number
	segment = s.offset(seq) // nf_confirm_cthelper -> nf_ct_seq_adjust
	if post != nil {
		s = *post
	}
	return segment, s
}

func TestSeqAdjFix(t *testing.T) {
	tests := []struct {
		name           string
		cur            seqAdjust
		seq            uint32
		off            int32
		misread        uint32
		wantPre, wantP bool // whether a correction before / after the verdict is planned
	}{
		{name: "first rewrite, misread number after the segment (kernel updates)",
			seq: 0x10000000, off: 1, misread: 0x20000000, wantPre: true, wantP: true},
		{name: "first rewrite, misread number before the segment",
			seq: 0x30000000, off: 1, misread: 0x00400640, wantPre: true},
		{name: "second rewrite grows the offset",
			cur: seqAdjust{Pos: 0x30000000, Before: 0, After: 1}, seq: 0x30000100, off: 2, misread: 0x00400640, wantPre: true},
		{name: "second rewrite, misread number ahead",
			cur: seqAdjust{Pos: 0x10000000, Before: 0, After: 1}, seq: 0x10000100, off: -3, misread: 0x20000000, wantPre: true, wantP: true},
		{name: "retransmission of an already rewritten segment",
			cur: seqAdjust{Pos: 0x10000100, Before: 1, After: 3}, seq: 0x10000100, off: 2, misread: 0x10000000},
		{name: "no length change", seq: 5, off: 0, misread: 0x20000000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pre, post := seqAdjFix(tt.cur, tt.seq, tt.off, tt.misread)
			if (pre != nil) != tt.wantPre || (post != nil) != tt.wantP {
				t.Errorf("plan: pre %v post %v, want pre %v post %v", pre, post, tt.wantPre, tt.wantP)
			}
			want := tt.cur.set(tt.seq, tt.off)
			segment, final := kernelAfterFix(tt.cur, tt.seq, tt.off, tt.misread)
			if segment != want.offset(tt.seq) {
				t.Errorf("rewritten segment shifted by %d, want %d", segment, want.offset(tt.seq))
			}
			if final != want {
				t.Errorf("adjustment %+v, want %+v", final, want)
			}
		})
	}
}

// TestSeqAdjFixRandom checks the plan against the kernel's arithmetic for
// arbitrary states: the segment and the final state always come out as
// with a kernel that read the right sequence number.
func TestSeqAdjFixRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 100000; i++ {
		before := int32(r.IntN(200)) - 100
		cur := seqAdjust{Pos: r.Uint32(), Before: before, After: before + int32(r.IntN(3)) - 1}
		if r.IntN(4) == 0 {
			cur = seqAdjust{}
		}
		seq := r.Uint32()
		if r.IntN(3) == 0 {
			seq = cur.Pos + uint32(r.IntN(2000))
		}
		off := int32(r.IntN(41)) - 20
		misread := r.Uint32()
		want := cur.set(seq, off)
		segment, final := kernelAfterFix(cur, seq, off, misread)
		if segment != want.offset(seq) || final != want {
			t.Fatalf("cur %+v seq %#x off %d misread %#x: segment %d final %+v, want %d %+v",
				cur, seq, off, misread, segment, final, want.offset(seq), want)
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
	nat := &engine.Conn{Status: engine.StatusSrcNAT}
	tests := []struct {
		name string
		j    job
		pkt  []byte
		want bool
	}{
		{"IPv6 NAT longer", job{pkt: v6, conn: nat}, make([]byte, 81), true},
		{"IPv6 NAT shorter", job{pkt: v6, conn: nat}, make([]byte, 79), true},
		{"IPv6 NAT same length", job{pkt: v6, conn: nat}, make([]byte, 80), false},
		{"IPv6 not NAT'ed (the kernel does not adjust)", job{pkt: v6, conn: &engine.Conn{}}, make([]byte, 81), false},
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
