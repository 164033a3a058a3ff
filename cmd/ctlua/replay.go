package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/runtime/replay"
)

// multiFlag collects a repeatable flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

func cmdReplay(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var ports, options multiFlag
	fs.Var(&ports, "port", "helper port (repeatable; replaces the script's ports)")
	fs.Var(&options, "option", "helper option key=value (repeatable)")
	asJSON := fs.Bool("json", false, "print JSON lines instead of a table")
	all := fs.Bool("all", false, "also print packets the helper does not see")
	watch := fs.Bool("watch", false, "replay again whenever the script changes")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: ctlua replay [--port N]... [--option k=v]... [--json] [--all] [--watch] HELPER.lua CAPTURE.pcap[ng]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return exitUsage
	}
	script, capture := fs.Arg(0), fs.Arg(1)
	var opt replay.Options
	for _, p := range ports {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			fmt.Fprintf(stderr, "ctlua replay: --port %q: want a port number 1..65535\n", p)
			return exitUsage
		}
		opt.Ports = append(opt.Ports, uint16(n))
	}
	once := func() int {
		return replayOnce(script, capture, opt, options, *asJSON, *all, stdout, stderr)
	}
	status := once()
	if !*watch {
		return status
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	fmt.Fprintf(stderr, "ctlua replay: watching %s (Ctrl-C to stop)\n", script)
	err := engine.Watch(ctx, []string{script}, 0, func(string) {
		fmt.Fprintf(stdout, "\n--- %s changed, replaying\n", script)
		status = once()
	})
	if err != nil {
		fmt.Fprintln(stderr, "ctlua replay:", err)
		return exitUsage
	}
	return status
}

func replayOnce(script, capture string, opt replay.Options, options []string, asJSON, all bool, stdout, stderr io.Writer) int {
	rp := replay.New(opt)
	e, err := engine.New(engine.Config{Workers: 1, Modules: modules(), Conntrack: rp.Conntrack(), Expecter: rp.Expecter()})
	if err != nil {
		fmt.Fprintln(stderr, "ctlua:", err)
		return exitFailed
	}
	defer e.Close()
	src, err := os.ReadFile(script)
	if err != nil {
		fmt.Fprintln(stderr, "ctlua replay:", err)
		return exitUsage
	}
	probe, err := e.Check(script, src, nil)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailed
	}
	ov, err := optionOverrides(&probe.Spec, options)
	if err != nil {
		fmt.Fprintln(stderr, "ctlua replay:", err)
		return exitUsage
	}
	h, err := e.Load(script, src, ov)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailed
	}
	f, err := os.Open(capture)
	if err != nil {
		fmt.Fprintln(stderr, "ctlua replay:", err)
		return exitUsage
	}
	defer f.Close()
	var out printer = &tablePrinter{w: stdout, all: all}
	if asJSON {
		out = &jsonPrinter{enc: json.NewEncoder(stdout), all: all}
	}
	sum, err := rp.Run(context.Background(), e, h.Spec.Name, f, out.event)
	if err != nil {
		fmt.Fprintln(stderr, "ctlua replay:", err)
		return exitUsage
	}
	out.summary(sum)
	if sum.Errors > 0 {
		fmt.Fprintf(stderr, "ctlua replay: %d script errors\n", sum.Errors)
		return exitFailed
	}
	return exitOK
}

// optionOverrides parses key=value options by the type of the declared
// default.
func optionOverrides(s *engine.Spec, options []string) (*engine.Overrides, error) {
	if len(options) == 0 {
		return nil, nil
	}
	ov := &engine.Overrides{Options: map[string]any{}}
	for _, o := range options {
		k, v, ok := strings.Cut(o, "=")
		if !ok {
			return nil, fmt.Errorf("--option %q: want key=value", o)
		}
		def, declared := s.Options[k]
		if !declared {
			return nil, fmt.Errorf("--option %s: helper %s declares no such option (declared: %s)", k, s.Name, strings.Join(sortedOptionNames(s.Options), ", "))
		}
		switch def.(type) {
		case bool:
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("--option %s: want true or false, got %q", k, v)
			}
			ov.Options[k] = b
		case float64:
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, fmt.Errorf("--option %s: want a number, got %q", k, v)
			}
			ov.Options[k] = n
		default:
			ov.Options[k] = v
		}
	}
	return ov, nil
}

func sortedOptionNames(m map[string]any) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

type printer interface {
	event(replay.Event)
	summary(replay.Summary)
}

// tablePrinter prints one line per packet the helper saw.
type tablePrinter struct {
	w      io.Writer
	all    bool
	header bool
}

func (p *tablePrinter) event(ev replay.Event) {
	if !p.header {
		fmt.Fprintf(p.w, "%5s %9s %5s %-8s %-17s %-45s %-34s %s\n", "#", "time", "conn", "dir", "ctinfo", "packet", "payload", "verdict")
		p.header = true
	}
	switch ev.Kind {
	case replay.EventPacket:
		if !ev.Helped && !p.all {
			return
		}
		verdict := "-"
		var notes []string
		if d := ev.Decision; d != nil {
			verdict = d.Verdict.String()
			if n := ev.Expected; n > 0 {
				notes = append(notes, fmt.Sprintf("+%d expect", n))
			}
			if d.Packet != nil {
				notes = append(notes, "mangled")
			}
			var se *engine.ScriptError
			if errors.As(d.Err, &se) {
				notes = append(notes, fmt.Sprintf("ERROR %s: %s: %s", se.Location(), se.Kind, se.Msg))
			}
			for _, l := range d.Logs {
				notes = append(notes, fmt.Sprintf("log %s %q", strings.ToLower(l.Level.String()), l.Message))
			}
		}
		fmt.Fprintf(p.w, "%5d %9s %5d %-8s %-17s %-45s %-34q %s %s\n", ev.Index, fmtDur(ev.Time), ev.Conn.ID,
			ev.Packet.Dir(), ev.Packet.CTInfo, ev.Packet.Tuple().String(), summarize(ev.Packet.Payload()),
			verdict, strings.Join(notes, "; "))
	case replay.EventExpect:
		fmt.Fprintf(p.w, "%5s %9s %5s   expect %s\n", "", "", "", ev.Expect.String())
	case replay.EventRelated:
		fmt.Fprintf(p.w, "%5d %9s %5d   RELATED %s to conn of %s via expectation\n", ev.Index, fmtDur(ev.Time), ev.Conn.ID,
			ev.Conn.Orig, ev.Expect.Master)
	case replay.EventExpectRefused:
		fmt.Fprintf(p.w, "%5s %9s %5s   expectation refused (%s): %s\n", "", "", "", ev.Reason, ev.Expect.String())
	case replay.EventExpectGone:
		if p.all {
			fmt.Fprintf(p.w, "%5s %9s %5s   expectation %s: %s\n", "", "", "", ev.Reason, ev.Expect.String())
		}
	}
}

func (p *tablePrinter) summary(s replay.Summary) {
	fmt.Fprintf(p.w, "\n%d packets read (%d skipped), %d seen by the helper, %d connections, %d expectations, %d related connections, %d script errors\n",
		s.Packets, s.Skipped, s.Helped, s.Connections, s.Expectations, s.Related, s.Errors)
}

func fmtDur(d time.Duration) string { return fmt.Sprintf("%.3fs", d.Seconds()) }

// summarize returns the first line of a payload, printable and short.
func summarize(b []byte) string {
	if i := strings.IndexAny(string(b), "\r\n"); i >= 0 {
		b = b[:i]
	}
	s := strings.Map(func(r rune) rune {
		if r < 32 || r > 126 {
			return '.'
		}
		return r
	}, string(b))
	if len(s) > 32 {
		s = s[:31] + "…"
	}
	return s
}

// jsonPrinter prints JSON lines.
type jsonPrinter struct {
	enc *json.Encoder
	all bool
}

type jsonExpect struct {
	L3          string `json:"l3"`
	Proto       string `json:"proto"`
	Src         string `json:"src"`
	Dst         string `json:"dst"`
	Sport       uint16 `json:"sport"`
	Dport       uint16 `json:"dport"`
	MaskSrc     string `json:"mask_src"`
	MaskDst     string `json:"mask_dst"`
	MaskSport   uint16 `json:"mask_sport"`
	MaskDport   uint16 `json:"mask_dport"`
	MasterSrc   string `json:"master_src"`
	MasterDst   string `json:"master_dst"`
	MasterSport uint16 `json:"master_sport"`
	MasterDport uint16 `json:"master_dport"`
	Class       uint32 `json:"class"`
	Helper      string `json:"helper"`
	Timeout     int    `json:"timeout"`
}

func expectJSON(x *replay.Expectation) jsonExpect {
	l3 := "ipv4"
	if x.Master.IsIPv6() {
		l3 = "ipv6"
	}
	return jsonExpect{L3: l3, Proto: engine.ProtoName(x.Tuple.Proto),
		Src: x.Tuple.Src.String(), Dst: x.Tuple.Dst.String(), Sport: x.Tuple.SrcPort, Dport: x.Tuple.DstPort,
		MaskSrc: x.Mask.Src.String(), MaskDst: x.Mask.Dst.String(), MaskSport: x.Mask.SrcPort, MaskDport: x.Mask.DstPort,
		MasterSrc: x.Master.Src.String(), MasterDst: x.Master.Dst.String(), MasterSport: x.Master.SrcPort, MasterDport: x.Master.DstPort,
		Class: x.Class, Helper: x.MasterHelper, Timeout: int(x.Timeout / time.Second)}
}

func (p *jsonPrinter) event(ev replay.Event) {
	switch ev.Kind {
	case replay.EventPacket:
		if !ev.Helped && !p.all {
			return
		}
		m := map[string]any{"type": "packet", "n": ev.Index, "time": ev.Time.Seconds(), "conn": ev.Conn.ID,
			"dir": ev.Packet.Dir().String(), "ctinfo": ev.Packet.CTInfo.String(), "helped": ev.Helped,
			"src": ev.Packet.Src.String(), "dst": ev.Packet.Dst.String(), "sport": ev.Packet.SrcPort, "dport": ev.Packet.DstPort,
			"proto": engine.ProtoName(ev.Packet.Proto), "payload": summarize(ev.Packet.Payload())}
		if d := ev.Decision; d != nil {
			m["verdict"] = d.Verdict.String()
			m["expectations"] = ev.Expected
			m["mangled"] = d.Packet != nil
			if d.Err != nil {
				m["error"] = d.Err.Error()
			}
			if len(d.Logs) > 0 {
				var logs []string
				for _, l := range d.Logs {
					logs = append(logs, l.Message)
				}
				m["logs"] = logs
			}
		}
		p.enc.Encode(m)
	case replay.EventExpect:
		p.enc.Encode(struct {
			Type string `json:"type"`
			N    int    `json:"n"`
			jsonExpect
		}{"expect", ev.Index, expectJSON(ev.Expect)})
	case replay.EventRelated:
		p.enc.Encode(map[string]any{"type": "related", "n": ev.Index, "conn": ev.Conn.ID,
			"src": ev.Conn.Orig.Src.String(), "dst": ev.Conn.Orig.Dst.String(), "sport": ev.Conn.Orig.SrcPort,
			"dport": ev.Conn.Orig.DstPort, "proto": engine.ProtoName(ev.Conn.Orig.Proto),
			"master_src": ev.Expect.Master.Src.String(), "master_sport": ev.Expect.Master.SrcPort,
			"master_dst": ev.Expect.Master.Dst.String(), "master_dport": ev.Expect.Master.DstPort})
	case replay.EventExpectRefused:
		p.enc.Encode(map[string]any{"type": "expect_refused", "n": ev.Index, "reason": ev.Reason, "expectation": expectJSON(ev.Expect)})
	case replay.EventExpectGone:
		if p.all {
			p.enc.Encode(map[string]any{"type": "expect_gone", "n": ev.Index, "reason": ev.Reason, "expectation": expectJSON(ev.Expect)})
		}
	}
}

func (p *jsonPrinter) summary(s replay.Summary) {
	p.enc.Encode(map[string]any{"type": "summary", "packets": s.Packets, "skipped": s.Skipped, "helped": s.Helped,
		"connections": s.Connections, "expectations": s.Expectations, "related": s.Related, "errors": s.Errors})
}
