package main

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/runtime/replay"
)

// A filter selects what a replay shows; the replay itself always runs
// every packet, so state and expectations are the same.
type filter struct {
	conn     uint32
	port     uint16
	from, to int // packet numbers, 0: open
}

// newFilter builds a filter from --conn, --show-port and --packets.
func newFilter(conn uint32, port uint, packets string) (filter, error) {
	f := filter{conn: conn, port: uint16(port)}
	if port > 65535 {
		return f, fmt.Errorf("--show-port %d: want a port number", port)
	}
	if packets == "" {
		return f, nil
	}
	from, to, ok := strings.Cut(packets, "-")
	var err1, err2 error
	if from != "" {
		f.from, err1 = strconv.Atoi(from)
	}
	if to != "" {
		f.to, err2 = strconv.Atoi(to)
	} else if !ok {
		f.to = f.from
	}
	if err1 != nil || err2 != nil || f.from < 0 || f.to < 0 || (f.to > 0 && f.to < f.from) {
		return f, fmt.Errorf("--packets %q: want FROM-TO, FROM-, -TO or N (packet numbers)", packets)
	}
	return f, nil
}

// shows reports whether the filter lets an event with a connection and a
// packet number through.
func (f filter) shows(ev replay.Event) bool {
	if f.from > 0 && ev.Index < f.from || f.to > 0 && ev.Index > f.to {
		return false
	}
	if ev.Conn == nil {
		return f.conn == 0 && f.port == 0
	}
	if f.conn != 0 && ev.Conn.ID != f.conn {
		return false
	}
	if f.port != 0 {
		o := ev.Conn.Orig
		if ev.Packet != nil {
			o = ev.Packet.Tuple()
		}
		return o.SrcPort == f.port || o.DstPort == f.port
	}
	return true
}

// A printer shows a replay's events and summary.
type printer interface {
	event(replay.Event)
	summary(s replay.Summary, ports []uint16)
}

// newPrinter returns the printer the arguments ask for, writing the
// packets to --write as well; closeOut finishes the written capture.
func newPrinter(a *replayArgs, stdout io.Writer, prints *[]string) (p printer, closeOut func() error, err error) {
	seen := &portCounter{}
	if a.asJSON {
		p = &jsonPrinter{enc: json.NewEncoder(stdout), args: a, prints: prints, seen: seen}
	} else {
		p = &tablePrinter{w: stdout, args: a, prints: prints, seen: seen}
	}
	if a.write == "" {
		return p, func() error { return nil }, nil
	}
	f, err := os.Create(a.write)
	if err != nil {
		return nil, nil, err
	}
	w, err := replay.NewPcapWriter(f)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	wp := &writingPrinter{printer: p, w: w}
	return wp, func() error { return errors.Join(wp.err, f.Close()) }, nil
}

// writingPrinter writes every packet as it leaves ctlua to a capture.
type writingPrinter struct {
	printer
	w   *replay.PcapWriter
	err error
}

func (p *writingPrinter) event(ev replay.Event) {
	p.printer.event(ev)
	if ev.Kind != replay.EventPacket || p.err != nil {
		return
	}
	data := ev.Packet.Data
	if d := ev.Decision; d != nil {
		if d.Verdict == engine.Drop {
			return
		}
		if d.Packet != nil {
			data = d.Packet
		}
	}
	p.err = p.w.Write(ev.At, data)
}

// portCounter counts the destination ports of new connections no helper
// took, for the hint when nothing matched.
type portCounter map[string]int

func (c *portCounter) add(ev replay.Event) {
	if ev.Kind == replay.EventPacket && !ev.Helped && ev.Packet.CTInfo == engine.CTNew {
		(*c)[fmt.Sprintf("%s %d", engine.ProtoName(ev.Packet.Proto), ev.Packet.DstPort)]++
	}
}

// hint explains a replay in which no packet reached a helper.
func (c portCounter) hint(s replay.Summary, ports []uint16) string {
	if s.Helped > 0 || s.Packets == 0 {
		return ""
	}
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return c[keys[i]] > c[keys[j]] || c[keys[i]] == c[keys[j]] && keys[i] < keys[j] })
	var seen []string
	for i, k := range keys {
		if i == 5 {
			break
		}
		seen = append(seen, fmt.Sprintf("%s (%d)", k, c[k]))
	}
	msg := fmt.Sprintf("hint: no connection of the capture went to the helper's ports %v", ports)
	if len(seen) > 0 {
		_, port, _ := strings.Cut(keys[0], " ")
		msg += fmt.Sprintf("; its connections go to %s: try --port %s", strings.Join(seen, ", "), port)
	}
	return msg
}

// tablePrinter prints one line per packet a helper saw, and what it did.
type tablePrinter struct {
	w      io.Writer
	args   *replayArgs
	prints *[]string
	seen   *portCounter
	header bool
	shown  bool // whether the last packet was shown: its expectations follow
}

func (p *tablePrinter) event(ev replay.Event) {
	p.seen.add(ev)
	if !p.header {
		fmt.Fprintf(p.w, "%5s %9s %5s %-8s %-17s %-45s %-34s %s\n", "#", "time", "conn", "dir", "ctinfo", "packet", "payload", "verdict")
		p.header = true
	}
	prints := *p.prints
	*p.prints = nil
	switch ev.Kind {
	case replay.EventPacket:
		p.shown = (ev.Helped || p.args.all) && p.args.filter.shows(ev)
		if p.shown {
			p.packet(ev, prints)
		}
	case replay.EventExpect:
		if p.shown {
			fmt.Fprintf(p.w, "%5s %9s %5s   expect %s\n", "", "", "", fmtExpect(ev.Expect))
		}
	case replay.EventRelated:
		if p.args.filter.shows(ev) {
			fmt.Fprintf(p.w, "%5d %9s %5d   RELATED %s to conn of %s via expectation\n", ev.Index, fmtDur(ev.Time), ev.Conn.ID,
				ev.Conn.Orig, ev.Expect.Master)
		}
	case replay.EventExpectRefused:
		if p.shown {
			fmt.Fprintf(p.w, "%5s %9s %5s   expectation refused (%s): %s\n", "", "", "", ev.Reason, fmtExpect(ev.Expect))
		}
	case replay.EventExpectGone:
		if p.args.all {
			fmt.Fprintf(p.w, "%5s %9s %5s   expectation %s: %s\n", "", "", "", ev.Reason, fmtExpect(ev.Expect))
		}
	}
}

// packet prints a packet line, then its notes: the rest of a text
// payload, a hex dump, log records with their fields, print output.
func (p *tablePrinter) packet(ev replay.Event, prints []string) {
	verdict := "-"
	var notes []string
	payload := ev.Packet.Payload()
	var rewritten []byte
	var logs []engine.LogRecord
	if d := ev.Decision; d != nil {
		verdict = d.Verdict.String()
		if n := ev.Expected; n > 0 {
			notes = append(notes, fmt.Sprintf("+%d expect", n))
		}
		if d.Packet != nil {
			rewritten = d.Packet[ev.Packet.PayloadOff:]
			notes = append(notes, "mangled")
		}
		var se *engine.ScriptError
		if errors.As(d.Err, &se) {
			notes = append(notes, fmt.Sprintf("ERROR %s: %s: %s", se.Location(), se.Kind, se.Msg))
		}
		logs = d.Logs
	}
	first, rest := splitText(payload)
	fmt.Fprintf(p.w, "%5d %9s %5d %-8s %-17s %-45s %-34q %s %s\n", ev.Index, fmtDur(ev.Time), ev.Conn.ID,
		ev.Packet.Dir(), ev.Packet.CTInfo, ev.Packet.Tuple().String(), first,
		verdict, strings.Join(notes, "; "))
	const indent = "                  "
	for _, l := range rest {
		fmt.Fprintf(p.w, "%s| %q\n", indent, l)
	}
	if p.args.hex && len(payload) > 0 {
		hexDump(p.w, indent, payload)
	}
	if rewritten != nil {
		fmt.Fprintf(p.w, "%srewritten: %q\n", indent, rewritten)
		if p.args.hex {
			hexDump(p.w, indent, rewritten)
		}
	}
	for _, l := range logs {
		fmt.Fprintf(p.w, "%slog %s %q%s\n", indent, strings.ToLower(l.Level.String()), l.Message, fmtAttrs(l.Attrs))
	}
	for _, s := range prints {
		fmt.Fprintf(p.w, "%sprint: %s\n", indent, s)
	}
}

func (p *tablePrinter) summary(s replay.Summary, ports []uint16) {
	fmt.Fprintf(p.w, "\n%d packets read (%d skipped), %d seen by the helper, %d connections, %d expectations, %d related connections, %d script errors\n",
		s.Packets, s.Skipped, s.Helped, s.Connections, s.Expectations, s.Related, s.Errors)
	if h := p.seen.hint(s, ports); h != "" {
		fmt.Fprintln(p.w, h)
	}
}

func fmtDur(d time.Duration) string { return fmt.Sprintf("%.3fs", d.Seconds()) }

// fmtAttrs formats log fields as " key=value ...".
func fmtAttrs(attrs []slog.Attr) string {
	var b strings.Builder
	for _, a := range attrs {
		v := a.Value.String()
		if strings.ContainsAny(v, " \t\"=") || v == "" {
			v = strconv.Quote(v)
		}
		fmt.Fprintf(&b, " %s=%s", a.Key, v)
	}
	return b.String()
}

// fmtExpect formats an expectation, IPv6 addresses in brackets.
func fmtExpect(x *replay.Expectation) string {
	e := x.Expectation
	s := fmt.Sprintf("%s %s -> %s mask %s/%d -> %s/%d policy %s",
		engine.ProtoName(e.Tuple.Proto), fmtEnd(e.Tuple.Src, e.Tuple.SrcPort, e.Mask.SrcPort),
		fmtEnd(e.Tuple.Dst, e.Tuple.DstPort, e.Mask.DstPort),
		e.Mask.Src, e.Mask.SrcPort, e.Mask.Dst, e.Mask.DstPort, e.Policy)
	if e.NAT != nil {
		s += fmt.Sprintf(" nat %s saved %s", e.NAT.Dir, netip.AddrPortFrom(e.NAT.Tuple.Src, e.NAT.Tuple.SrcPort))
	}
	return s
}

// fmtEnd formats an address and a port, "*" for any port; IPv6 in
// brackets as in a URL.
func fmtEnd(a netip.Addr, port, mask uint16) string {
	if mask != 0 {
		return netip.AddrPortFrom(a, port).String()
	}
	if a.Is6() && !a.Is4In6() {
		return "[" + a.String() + "]:*"
	}
	return a.String() + ":*"
}

// isText reports whether a payload reads as text: printable ASCII, tabs
// and line ends.
func isText(b []byte) bool {
	for _, c := range b {
		if (c < 32 || c > 126) && c != '\r' && c != '\n' && c != '\t' {
			return false
		}
	}
	return true
}

// splitText returns the payload's summary for the table's column and,
// for a text payload, its other lines (the whole of the first one when it
// does not fit). A binary payload is summarised as printable characters
// with dots (see --hex).
func splitText(b []byte) (first string, rest []string) {
	if !isText(b) {
		s := printable(b)
		if len(s) > 32 {
			s = s[:31] + "…"
		}
		return s, nil
	}
	lines := strings.SplitAfter(string(b), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) == 0 {
		return "", nil
	}
	first = strings.TrimRight(lines[0], "\r\n")
	if len(first) > 32 {
		rest = append(rest, lines[0])
		first = first[:31] + "…"
	}
	return first, append(rest, lines[1:]...)
}

// hexDump writes b as hex and ASCII, 16 bytes a line, each line indented
// and starting with the 1-based position of its first byte (the
// positions helpers use).
func hexDump(w io.Writer, indent string, b []byte) {
	for off := 0; off < len(b); off += 16 {
		line := b[off:min(off+16, len(b))]
		h := hex.EncodeToString(line)
		var groups []string
		for i := 0; i < len(h); i += 4 {
			groups = append(groups, h[i:min(i+4, len(h))])
		}
		fmt.Fprintf(w, "%s%4d  %-39s  %s\n", indent, off+1, strings.Join(groups, " "), printable(line))
	}
}

// printable returns b with every byte that is not printable ASCII as a
// dot, one character per byte.
func printable(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if c < 32 || c > 126 {
			c = '.'
		}
		out[i] = c
	}
	return string(out)
}
