package nfq

import (
	"encoding/binary"
	"fmt"

	"github.com/ctlua/ctlua/engine"
	"github.com/mdlayher/netlink"
)

// The kernel's TCP sequence adjustment after a length-changing rewrite is
// wrong for IPv6. When a verdict carries a payload of another length on a
// NAT'ed connection, nfnetlink_queue calls nf_ct_tcp_seqadj_set(), which
// finds the TCP header at ip_hdrlen(skb): the IPv4 header length, read from
// the low nibble of the first byte. On IPv6 that nibble belongs to the
// traffic class (usually 0), so the kernel takes bytes 4..7 of the IPv6
// header (payload length, next header, hop limit) for the segment's
// sequence number, and records the adjustment at that position. Whether the
// rewritten segment and the ones after it are then shifted correctly is a
// coin toss; when they are not, the peer's ACKs fall out of the window and
// the firewall resets the control connection. The in-kernel NAT helpers are
// not affected: they pass the TCP header offset themselves.
//
// The daemon works around it: nf_ct_seqadj_set() is deterministic, so
// before the verdict it sets the connection's adjustment over ctnetlink
// (CTA_SEQ_ADJ_*) to one that the kernel's update, with the misread
// number, leaves alone, and that shifts this and later segments the way
// the kernel would have with the right number (see seqAdjPlan). Nothing is
// left to fix after the verdict, so there is no race with the peer's
// answer, which the kernel may forward before the verdict's sendmsg
// returns.

// ctnetlink attributes for the sequence adjustment
// (include/uapi/linux/netfilter/nfnetlink_conntrack.h).
const (
	msgCTNew        = 0 // IPCTNL_MSG_CT_NEW
	ctaSeqAdjOrig   = 15
	ctaSeqAdjReply  = 16
	ctaZone         = 18
	ctaSeqAdjPos    = 1 // CTA_SEQADJ_CORRECTION_POS
	ctaSeqAdjBefore = 2 // CTA_SEQADJ_OFFSET_BEFORE
	ctaSeqAdjAfter  = 3 // CTA_SEQADJ_OFFSET_AFTER
)

// A seqAdjust is the kernel's struct nf_ct_seqadj: the sequence number
// offsets of one direction, before and after the position of the last
// length change.
type seqAdjust struct {
	Pos           uint32
	Before, After int32
}

// seqBefore is the kernel's before(): a comes before b in sequence space.
func seqBefore(a, b uint32) bool { return int32(a-b) < 0 }

// set returns the adjustment after a length change of off at sequence
// number seq, as nf_ct_seqadj_set() computes it.
func (s seqAdjust) set(seq uint32, off int32) seqAdjust {
	if off == 0 {
		return s
	}
	if s.Before == s.After || seqBefore(s.Pos, seq) {
		return seqAdjust{Pos: seq, Before: s.After, After: s.After + off}
	}
	return s
}

// offset returns the offset nf_ct_seq_adjust() applies to a segment that
// starts at seq.
func (s seqAdjust) offset(seq uint32) int32 {
	if seqBefore(s.Pos, seq) {
		return s.After
	}
	return s.Before
}

// misreadSeq returns what nf_ct_tcp_seqadj_set() takes for the TCP
// sequence number of the rewritten packet pkt: the 32 bits at
// ip_hdrlen(skb)+4, where ip_hdrlen reads an IPv4 header length.
func misreadSeq(pkt []byte) (uint32, bool) {
	if len(pkt) == 0 {
		return 0, false
	}
	off := int(pkt[0]&0x0f)*4 + 4
	if len(pkt) < off+4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(pkt[off:]), true
}

// seqAdjPlan plans the correction for a rewrite that changes the length of
// the segment at seq by off, on a direction whose adjustment is cur, when
// the kernel will read misread as the sequence number. It returns the
// adjustment to set before the verdict and shift, the number to subtract
// from the rewritten segment's sequence number; ok is false when the
// length does not change. A kernel that reads the right number gets the
// plain adjustment, which its update leaves as it is.
//
// With base the offset the segment gets now (the offset of earlier
// rewrites), the kernel with the right number would record {seq, base,
// base+off}: the segment keeps base, later ones get base+off. The kernel
// leaves an adjustment alone when its offsets differ and its position is
// not before the number it reads. So:
//
//   - misread at or behind seq: {seq, base, base+off} is both right and
//     left alone.
//   - misread ahead of seq: the segment leaves with its sequence number
//     lowered by off (shift) and the adjustment is {lo-1+2^31, base+off,
//     base}, with lo the lower of seq and seq-off. It gives base+off to
//     every segment from lo up to 2^31 ahead, so the rewritten one leaves
//     as seq+base and the later ones as before; base to those behind lo.
//     It is left alone for any misread number up to 2^31-1-off ahead of
//     seq (a growing rewrite whose misread number is in the last off of
//     the half space is not corrected). ACKs of the peer for data after
//     the segment are corrected by base+off, as they should; one for data
//     up to seq exactly, arriving after a shrinking rewrite, is off by the
//     shrink (a duplicate ACK; TCP ignores it).
func seqAdjPlan(cur seqAdjust, seq uint32, off int32, misread uint32) (set seqAdjust, shift int32, ok bool) {
	if off == 0 {
		return seqAdjust{}, 0, false
	}
	lo := seq - uint32(max(off, 0))
	pos := lo - 1 + 1<<31
	base := cur.offset(seq)
	if cur.Pos == pos && cur.Before-cur.After == off {
		// A retransmission of a segment this plan already rewrote.
		base = cur.After
	}
	if !seqBefore(seq, misread) {
		return seqAdjust{Pos: seq, Before: base, After: base + off}, 0, true
	}
	return seqAdjust{Pos: pos, Before: base + off, After: base}, off, true
}

// setSeq sets the sequence number of the TCP segment pkt, with its L4
// header at l4off, and updates the TCP checksum (RFC 1624).
func setSeq(pkt []byte, l4off int, seq uint32) {
	old := binary.BigEndian.Uint32(pkt[l4off+4:])
	binary.BigEndian.PutUint32(pkt[l4off+4:], seq)
	c := uint32(^binary.BigEndian.Uint16(pkt[l4off+16:]))
	c += uint32(^uint16(old>>16)) + uint32(^uint16(old)) + seq>>16 + seq&0xffff
	for c > 0xffff {
		c = c&0xffff + c>>16
	}
	binary.BigEndian.PutUint16(pkt[l4off+16:], ^uint16(c))
}

// needsSeqAdjFix reports whether a verdict that rewrites j's packet to pkt
// runs into the kernel's IPv6 sequence adjustment bug: an IPv6 TCP segment
// of a NAT'ed connection (the kernel adjusts only those) whose length
// changes.
func needsSeqAdjFix(j *job, pkt []byte) (off int32, ok bool) {
	if pkt == nil || !j.pkt.IsIPv6() || j.pkt.Proto != engine.ProtoTCP || j.conn.Status&engine.StatusNATMask == 0 {
		return 0, false
	}
	off = int32(len(pkt) - len(j.pkt.Data))
	return off, off != 0
}

// fixSeqAdjust prepares a verdict that rewrites j's packet to pkt for the
// kernel's IPv6 sequence adjustment bug: it sets the connection's
// adjustment and, when the plan says so, lowers the rewritten segment's
// sequence number in pkt. It reports whether it changed the adjustment.
func (q *Queue) fixSeqAdjust(j *job, pkt []byte) bool {
	off, ok := needsSeqAdjFix(j, pkt)
	if !ok {
		return false
	}
	misread, ok := misreadSeq(pkt)
	if !ok {
		return false
	}
	dir := j.pkt.Dir()
	set, shift, ok := seqAdjPlan(j.seqadj[dir], j.pkt.Seq, off, misread)
	if !ok {
		return false
	}
	if q.cfg.Expecter == nil {
		q.seqFixErrs.Add(1)
		q.log.Warn("IPv6 rewrite changes the segment's length and no ctnetlink socket is configured: "+
			"the kernel will adjust the sequence numbers wrongly", "helper", q.cfg.Helper)
		return false
	}
	q.seqFixes.Add(1)
	if err := q.cfg.Expecter.SetSeqAdjust(&j.conn, dir, set); err != nil {
		q.seqFixErrs.Add(1)
		q.log.Warn("cannot correct the sequence adjustment", "helper", q.cfg.Helper, "error", err)
		return false
	}
	if shift != 0 {
		setSeq(pkt, j.pkt.L4Off, j.pkt.Seq-uint32(shift))
	}
	return true
}

// restoreSeqAdjust puts back the adjustment fixSeqAdjust changed, for a
// verdict that goes without the rewritten packet after all.
func (q *Queue) restoreSeqAdjust(j *job) {
	if err := q.cfg.Expecter.SetSeqAdjust(&j.conn, j.pkt.Dir(), j.seqadj[j.pkt.Dir()]); err != nil {
		q.seqFixErrs.Add(1)
		q.log.Warn("cannot restore the sequence adjustment", "helper", q.cfg.Helper, "error", err)
	}
}

// SetSeqAdjust sets the TCP sequence adjustment of one direction of conn
// (IPCTNL_MSG_CT_NEW as an update, with CTA_SEQ_ADJ_ORIG or _REPLY).
func (x *Expecter) SetSeqAdjust(conn *engine.Conn, dir engine.Direction, s seqAdjust) error {
	m, err := seqAdjustMessage(conn, dir, s)
	if err != nil {
		return err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if _, err := x.c.Execute(m); err != nil {
		return fmt.Errorf("ctnetlink: set sequence adjustment of %s: %w", conn.Orig, err)
	}
	return nil
}

func seqAdjustMessage(conn *engine.Conn, dir engine.Direction, s seqAdjust) (netlink.Message, error) {
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	ae.Nested(ctaTupleOrig, func(ae *netlink.AttributeEncoder) error {
		encodeTuple(ae, conn.Orig, conn.Orig.Proto)
		return nil
	})
	if conn.Zone != 0 {
		ae.Uint16(ctaZone, conn.Zone)
	}
	typ := uint16(ctaSeqAdjOrig)
	if dir == engine.Reply {
		typ = ctaSeqAdjReply
	}
	ae.Nested(typ, func(ae *netlink.AttributeEncoder) error {
		ae.Uint32(ctaSeqAdjPos, s.Pos)
		ae.Uint32(ctaSeqAdjBefore, uint32(s.Before))
		ae.Uint32(ctaSeqAdjAfter, uint32(s.After))
		return nil
	})
	b, err := ae.Encode()
	if err != nil {
		return netlink.Message{}, fmt.Errorf("ctnetlink: encode sequence adjustment: %w", err)
	}
	return netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(subsysCTNL<<8 | msgCTNew),
			Flags: netlink.Request | netlink.Acknowledge},
		Data: append(nfgenmsg(tupleFamily(conn.Orig), 0), b...),
	}, nil
}
