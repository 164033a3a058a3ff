package engine

// Most packets of a helped connection carry nothing a helper acts on: an
// FTP control connection's LIST lines, a TFTP transfer's DATA blocks. A
// helper declares which packets it needs (the declaration fields match
// and lines), and the engine accepts the others without entering Lua: a
// Lua call costs microseconds, the check tens of nanoseconds.

// A Match lists the beginnings of the payloads a helper's on_packet is
// for, per direction (declaration field match). A packet whose payload
// begins with none of its direction's prefixes is accepted without a
// call, unless the payload is shorter than a prefix and begins it: a
// command cut short at a segment boundary still reaches the script, which
// may drop it until TCP sends it whole.
type Match struct {
	// Prefixes holds the prefixes of each direction, indexed by
	// Direction. A direction without any takes no packet.
	Prefixes [2][]string
	// NoCase compares ASCII letters regardless of case.
	NoCase bool
}

// Empty reports whether the helper declared no match: every packet runs.
func (m *Match) Empty() bool { return len(m.Prefixes[Original])+len(m.Prefixes[Reply]) == 0 }

// wants reports whether a payload of direction dir begins with one of the
// direction's prefixes, or is shorter than one and begins it.
func (m *Match) wants(dir Direction, payload []byte) bool {
	for _, pre := range m.Prefixes[dir&1] {
		n := min(len(pre), len(payload))
		if m.NoCase {
			if equalFoldASCII(payload[:n], pre[:n]) {
				return true
			}
		} else if string(payload[:n]) == pre[:n] {
			return true
		}
	}
	return false
}

// equalFoldASCII reports whether b and s are equal with ASCII letters
// folded; other bytes compare as they are.
func equalFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		x, y := b[i], s[i]
		if x == y {
			continue
		}
		if x|0x20 != y|0x20 || x|0x20 < 'a' || x|0x20 > 'z' {
			return false
		}
	}
	return true
}

// A LinePos is where a TCP segment starts relative to the lines of its
// direction (pkt:line_start()).
type LinePos uint8

// Line positions.
const (
	// LineUnknown: no segment of this direction has ended in a newline
	// yet (a new connection, one taken over from another firewall, or one
	// whose state was evicted), or the helper does not track lines.
	LineUnknown LinePos = iota
	// LineStart: the segment starts right after a newline.
	LineStart
	// LineInside: the segment continues a line.
	LineInside
)

// lineTrack holds where lines start in the two directions of a TCP
// connection: the sequence numbers right after the last two newlines each
// direction sent, as the kernel's FTP helper keeps them (seq_aft_nl in
// nf_conntrack_ftp.c). Two, so that a retransmission of the segment
// before the last newline still counts as starting a line.
type lineTrack struct {
	seq [2][2]uint32
	n   [2]uint8
}

// pos returns where a segment of dir starting at seq is.
func (t *lineTrack) pos(dir Direction, seq uint32) LinePos {
	dir &= 1
	if t.n[dir] == 0 {
		return LineUnknown
	}
	for i := range t.n[dir] {
		if t.seq[dir][i] == seq {
			return LineStart
		}
	}
	return LineInside
}

// record notes that a segment of dir ended in a newline, next being the
// sequence number right after it. Past two, it replaces the older one if
// next is after it in sequence space, like the kernel's update_nl_seq.
func (t *lineTrack) record(dir Direction, next uint32) {
	dir &= 1
	s := &t.seq[dir]
	for i := range t.n[dir] {
		if s[i] == next {
			return
		}
	}
	if t.n[dir] < 2 {
		s[t.n[dir]] = next
		t.n[dir]++
		return
	}
	oldest := 1
	if int32(s[0]-s[1]) < 0 {
		oldest = 0
	}
	if int32(s[oldest]-next) < 0 {
		s[oldest] = next
	}
}

// tracksLines reports whether the engine tracks the lines of p for h: a
// helper that declared lines, a TCP segment with payload of an
// established connection (before traffic went both ways the kernel's
// helpers look at nothing either).
func tracksLines(h *Helper, p *Packet) bool {
	return h.Spec.Lines && p.Proto == ProtoTCP && p.PayloadOff < len(p.Data) &&
		(p.CTInfo == CTEstablished || p.CTInfo == CTEstablishedReply)
}

// admit decides whether h's on_packet runs for p when the engine tracks
// p's lines (Helper.skip applied the match to the others): the match
// applies to segments that start a line or whose position is not known
// yet, and a segment inside a line does not run. It returns the position
// of p's first byte in its direction's lines and the connection's state
// holding the tracking (nil when h does not track p's lines).
func (w *worker) admit(sl *slot, h *Helper, p *Packet, c *Conn, now int64) (run bool, pos LinePos, cs *connState) {
	if !tracksLines(h, p) {
		return true, LineUnknown, nil
	}
	m := &h.Spec.Match
	cs = sl.states.line(c.Key(), h.Version, now)
	pos = cs.lines.pos(p.Dir(), p.Seq)
	run = m.Empty() || (pos != LineInside && m.wants(p.Dir(), p.Payload()))
	return run, pos, cs
}

// endLine records the end of p in its direction's lines when p ended in a
// newline and its decision d does not drop it: a dropped segment comes
// again, and until then the line did not end (the kernel forgets a
// segment it drops for a command cut short, for the same reason).
func endLine(cs *connState, p *Packet, d *Decision) {
	if cs == nil || d.Verdict == Drop {
		return
	}
	pl := p.Payload()
	if pl[len(pl)-1] == '\n' {
		cs.lines.record(p.Dir(), p.Seq+uint32(len(pl)))
	}
}
