package nfq

import "github.com/ctlua/ctlua/engine"

// A SeqAdjust is one direction's TCP sequence adjustment, the kernel's
// struct nf_ct_seqadj (ctnetlink CTA_SEQ_ADJ_*): the offsets before and
// after the sequence number Pos of the last length-changing rewrite.
type SeqAdjust = seqAdjust

// An Observer sees every packet the engine decided on, before its verdict
// is sent: the connection, its sequence adjustment per direction (indexed
// by engine.Direction) as it stands once the verdict is applied, and the
// decision. It runs on the queue's lanes, concurrently for connections of
// different workers, and must not block or keep its arguments: an HA
// daemon copies what its peer needs and sends it on.
type Observer func(c *engine.Conn, seqadj [2]SeqAdjust, d *engine.Decision)

// observe hands j's decision to the configured observer. A verdict that
// changes the length of a TCP segment on a NAT'ed connection makes the
// kernel record an adjustment (nf_ct_seqadj_set): the observer gets the
// adjustment with it, as the kernel computes it from the segment's real
// sequence number.
func (q *Queue) observe(j *job, d *engine.Decision) {
	if q.cfg.Observe == nil {
		return
	}
	adj := j.seqadj
	if d.Packet != nil && d.Verdict == engine.Accept && j.pkt.Proto == engine.ProtoTCP && j.conn.IsNAT() {
		if off := int32(len(d.Packet) - len(j.pkt.Data)); off != 0 {
			dir := j.pkt.Dir()
			adj[dir] = adj[dir].set(j.pkt.Seq, off)
		}
	}
	q.cfg.Observe(&j.conn, adj, d)
}
