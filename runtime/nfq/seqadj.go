package nfq

import (
	"encoding/binary"
	"fmt"

	"github.com/ctlua/ctlua/engine"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
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
// seqAdjFix works around it from user space: it simulates what the kernel
// will do with the misread number (nf_ct_seqadj_set is deterministic), and
// sets the connection's adjustment over ctnetlink (CTA_SEQ_ADJ_*) so that
// the result is what the kernel would have done with the right one. When
// setting the right adjustment before the verdict makes the kernel's update
// a no-op, that is all (no race). Otherwise the adjustment set before the
// verdict makes the rewritten segment itself come out right, and the right
// one is set just after the verdict; a segment of the same direction or an
// ACK of the peer that the kernel sees in between is adjusted with the old
// offset (FTP's lock-step dialogue leaves no such segment in practice).

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

// seqAdjFix plans the correction for a rewrite of the segment at seq that
// changes its length by off, on a direction whose adjustment is cur, when
// the kernel will read misread as the sequence number. pre is set before the
// verdict, post after it; nil means nothing to set.
func seqAdjFix(cur seqAdjust, seq uint32, off int32, misread uint32) (pre, post *seqAdjust) {
	want := cur.set(seq, off)
	if cur.set(misread, off) == want {
		return nil, nil // the kernel gets it right by itself
	}
	if want.set(misread, off) == want {
		return &want, nil // set it first: the kernel's update is then a no-op
	}
	// The kernel will update whatever we set; make its result adjust the
	// rewritten segment itself by the right offset. With Before == After
	// it always updates, to {misread, After, After+off}.
	o := want.offset(seq)
	x := o
	if seqBefore(misread, seq) {
		x = o - off
	}
	return &seqAdjust{Pos: misread, Before: x, After: x}, &want
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

// fixSeqAdjust applies the part of the correction that goes before the
// verdict and returns the part that goes after it (nil for none).
func (q *Queue) fixSeqAdjust(j *job, pkt []byte) *seqAdjust {
	off, ok := needsSeqAdjFix(j, pkt)
	if !ok {
		return nil
	}
	misread, ok := misreadSeq(pkt)
	if !ok {
		return nil
	}
	dir := j.pkt.Dir()
	pre, post := seqAdjFix(j.seqadj[dir], j.pkt.Seq, off, misread)
	if pre == nil {
		return nil
	}
	if q.cfg.Expecter == nil {
		q.log.Warn("IPv6 rewrite changes the segment's length and no ctnetlink socket is configured: "+
			"the kernel will adjust the sequence numbers wrongly", "helper", q.cfg.Helper)
		return nil
	}
	q.seqFixes.Add(1)
	if err := q.cfg.Expecter.SetSeqAdjust(j.conn, dir, *pre); err != nil {
		q.seqFixErrs.Add(1)
		q.log.Warn("cannot correct the sequence adjustment", "helper", q.cfg.Helper, "error", err)
		return nil
	}
	return post
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
	fam := uint8(unix.AF_INET)
	if conn.Orig.IsIPv6() {
		fam = unix.AF_INET6
	}
	return netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(subsysCTNL<<8 | msgCTNew),
			Flags: netlink.Request | netlink.Acknowledge},
		Data: append(nfgenmsg(fam, 0), b...),
	}, nil
}
