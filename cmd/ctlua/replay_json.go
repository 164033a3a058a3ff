package main

import (
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/runtime/replay"
)

// jsonPrinter prints one JSON object a line.
type jsonPrinter struct {
	enc    *json.Encoder
	args   *replayArgs
	prints *[]string
	seen   *portCounter
	shown  bool
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
	return jsonExpectOf(x.Tuple, x.Mask, x.Master, x.Class, x.MasterHelper, x.Timeout)
}

// jsonExpectOf fills a jsonExpect; timeout is the time left.
func jsonExpectOf(t, mask, master engine.Tuple, class uint32, helper string, timeout time.Duration) jsonExpect {
	l3 := "ipv4"
	if master.IsIPv6() {
		l3 = "ipv6"
	}
	return jsonExpect{L3: l3, Proto: engine.ProtoName(t.Proto),
		Src: t.Src.String(), Dst: t.Dst.String(), Sport: t.SrcPort, Dport: t.DstPort,
		MaskSrc: mask.Src.String(), MaskDst: mask.Dst.String(), MaskSport: mask.SrcPort, MaskDport: mask.DstPort,
		MasterSrc: master.Src.String(), MasterDst: master.Dst.String(), MasterSport: master.SrcPort, MasterDport: master.DstPort,
		Class: class, Helper: helper, Timeout: int(timeout / time.Second)}
}

type jsonLog struct {
	Level  string            `json:"level"`
	Msg    string            `json:"msg"`
	Fields map[string]string `json:"fields,omitempty"`
}

func (p *jsonPrinter) event(ev replay.Event) {
	p.seen.add(ev)
	prints := *p.prints
	*p.prints = nil
	switch ev.Kind {
	case replay.EventPacket:
		p.shown = (ev.Helped || p.args.all) && p.args.filter.shows(ev)
		if p.shown {
			p.enc.Encode(packetJSON(ev, prints, p.args.hex))
		}
	case replay.EventExpect:
		if p.shown {
			p.enc.Encode(struct {
				Type string `json:"type"`
				N    int    `json:"n"`
				jsonExpect
			}{"expect", ev.Index, expectJSON(ev.Expect)})
		}
	case replay.EventRelated:
		if p.args.filter.shows(ev) {
			p.enc.Encode(map[string]any{"type": "related", "n": ev.Index, "conn": ev.Conn.ID,
				"src": ev.Conn.Orig.Src.String(), "dst": ev.Conn.Orig.Dst.String(), "sport": ev.Conn.Orig.SrcPort,
				"dport": ev.Conn.Orig.DstPort, "proto": engine.ProtoName(ev.Conn.Orig.Proto),
				"master_src": ev.Expect.Master.Src.String(), "master_sport": ev.Expect.Master.SrcPort,
				"master_dst": ev.Expect.Master.Dst.String(), "master_dport": ev.Expect.Master.DstPort})
		}
	case replay.EventExpectRefused:
		if p.shown {
			p.enc.Encode(map[string]any{"type": "expect_refused", "n": ev.Index, "reason": ev.Reason, "expectation": expectJSON(ev.Expect)})
		}
	case replay.EventExpectGone:
		if p.args.all {
			p.enc.Encode(map[string]any{"type": "expect_gone", "n": ev.Index, "reason": ev.Reason, "expectation": expectJSON(ev.Expect)})
		}
	}
}

// packetJSON is a packet event as JSON: the whole payload as text (and as
// hex with --hex), log records with their fields, print output.
func packetJSON(ev replay.Event, prints []string, withHex bool) map[string]any {
	payload := ev.Packet.Payload()
	m := map[string]any{"type": "packet", "n": ev.Index, "time": ev.Time.Seconds(), "conn": ev.Conn.ID,
		"dir": ev.Packet.Dir().String(), "ctinfo": ev.Packet.CTInfo.String(), "helped": ev.Helped,
		"src": ev.Packet.Src.String(), "dst": ev.Packet.Dst.String(), "sport": ev.Packet.SrcPort, "dport": ev.Packet.DstPort,
		"proto": engine.ProtoName(ev.Packet.Proto), "payload": printableOrText(payload), "len": len(payload)}
	if withHex {
		m["hex"] = hex.EncodeToString(payload)
	}
	if len(prints) > 0 {
		m["prints"] = prints
	}
	d := ev.Decision
	if d == nil {
		return m
	}
	m["verdict"] = d.Verdict.String()
	m["expectations"] = ev.Expected
	m["mangled"] = d.Packet != nil
	if d.Packet != nil {
		m["rewritten"] = printableOrText(d.Packet[ev.Packet.PayloadOff:])
	}
	if d.Err != nil {
		m["error"] = d.Err.Error()
	}
	if len(d.Logs) > 0 {
		var logs []jsonLog
		for _, l := range d.Logs {
			jl := jsonLog{Level: strings.ToLower(l.Level.String()), Msg: l.Message}
			if len(l.Attrs) > 0 {
				jl.Fields = map[string]string{}
				for _, a := range l.Attrs {
					jl.Fields[a.Key] = a.Value.String()
				}
			}
			logs = append(logs, jl)
		}
		m["logs"] = logs
	}
	return m
}

// printableOrText is a text payload as is, a binary one with dots.
func printableOrText(b []byte) string {
	if isText(b) {
		return string(b)
	}
	return printable(b)
}

func (p *jsonPrinter) summary(s replay.Summary, ports []uint16) {
	m := map[string]any{"type": "summary", "packets": s.Packets, "skipped": s.Skipped, "helped": s.Helped,
		"connections": s.Connections, "expectations": s.Expectations, "related": s.Related, "errors": s.Errors}
	if h := p.seen.hint(s, ports); h != "" {
		m["hint"] = h
	}
	p.enc.Encode(m)
}
