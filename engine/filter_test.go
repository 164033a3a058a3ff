package engine_test

import (
	"strings"
	"testing"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/engine/enginetest"
)

func TestMatchAndLinesDeclarationErrors(t *testing.T) {
	decl := func(l4, fields string) string {
		return "return { name='x', l4=" + l4 + ", policies={{name='a',max_expected=1,timeout=1}},\n" +
			fields + ",\n on_packet=function() end }"
	}
	long := strings.Repeat("a", 65)
	tests := []struct{ name, src, want string }{
		{"match not a table", decl("'tcp'", "match = 'PORT'"), "bad.lua:2: match: must be a table of payload prefixes, got string"},
		{"prefix not a string", decl("'tcp'", "match = {\n 7 }"), "bad.lua:3: match.1: must be a string, got number"},
		{"empty prefix", decl("'tcp'", "match = { original = {''} }"), "bad.lua:2: match.original.1: must be 1 to 64 bytes long, got 0"},
		{"long prefix", decl("'tcp'", "match = { reply = {'"+long+"'} }"), "match.reply.1: must be 1 to 64 bytes long, got 65"},
		{"unknown key", decl("'tcp'", "match = { 'A', both = {'B'} }"), "match.both: unknown key"},
		{"nocase not a boolean", decl("'tcp'", "match = { 'A', nocase = 'yes' }"), "match.nocase: must be a boolean, got string"},
		{"direction not a list", decl("'tcp'", "match = { original = 'A' }"), "match.original: must be a list of payload prefixes, got string"},
		{"no prefix", decl("'tcp'", "match = { nocase = true }"), "match: must list at least one payload prefix"},
		{"too many prefixes", decl("'tcp'", "match = {'a','b','c','d','e','f','g','h','i','j','k','l','m','n','o','p','q'}"),
			"match.17: more than 16 prefixes for the original direction"},
		{"lines not a boolean", decl("'tcp'", "lines = 1"), "bad.lua:2: lines: must be a boolean, got number"},
		{"lines on udp", decl("'udp'", "lines = true"), "lines: lines are tracked on TCP connections: l4 must include \"tcp\""},
	}
	e := newEngine(t, engine.Config{Workers: 1})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.Load("bad.lua", []byte(tt.src), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestMatch: on_packet runs only for payloads that begin with one of
// their direction's prefixes, or are shorter than one and begin it.
func TestMatch(t *testing.T) {
	e := newEngine(t, engine.Config{Workers: 1})
	load(t, e, "x.lua", helperSrc("x", `return "drop"`,
		`match = { original = {"PORT", "EPRT"}, reply = {"227 "}, nocase = true },`))
	load(t, e, "y.lua", helperSrc("y", `return "drop"`, `match = { "\0\1" },`))
	seg := func(dir engine.Direction, payload string) *engine.Packet {
		s := enginetest.Segment{Src: "192.0.2.1", Dst: "192.0.2.2", SrcPort: 40000, DstPort: 2121, Seq: 1, Payload: payload}
		if dir == engine.Reply {
			s.Src, s.Dst, s.SrcPort, s.DstPort = s.Dst, s.Src, s.DstPort, s.SrcPort
			return s.Packet(engine.CTEstablishedReply)
		}
		return s.Packet(engine.CTEstablished)
	}
	tests := []struct {
		helper  string
		dir     engine.Direction
		payload string
		runs    bool
	}{
		{"x", engine.Original, "PORT 192,0,2,1,4,1\r\n", true},
		{"x", engine.Original, "port 192,0,2,1,4,1\r\n", true}, // nocase
		{"x", engine.Original, "EpRt |1|192.0.2.1|1025|\r\n", true},
		{"x", engine.Original, "PO", true}, // cut short: the script decides
		{"x", engine.Original, "LIST -la\r\n", false},
		{"x", engine.Original, "PASV\r\n", false},
		{"x", engine.Original, "227 Entering", false}, // the reply's prefix
		{"x", engine.Reply, "227 Entering Passive Mode (192,0,2,2,4,1)\r\n", true},
		{"x", engine.Reply, "227-", false},
		{"x", engine.Reply, "PORT 1,2,3,4,5,6\r\n", false},
		{"y", engine.Original, "\x00\x01file\x00octet\x00", true},
		{"y", engine.Reply, "\x00\x01file\x00octet\x00", true}, // a list applies to both
		{"y", engine.Original, "\x00\x03\x00\x01data", false},
		{"y", engine.Original, "\x00", true},
		{"y", engine.Original, "\x20\x01", false}, // no case folding of non-letters
	}
	for _, tt := range tests {
		p := seg(tt.dir, tt.payload)
		before, _ := e.Stats(tt.helper)
		d := e.Handle(tt.helper, p, conn1)
		after, _ := e.Stats(tt.helper)
		ran := d.Verdict == engine.Drop
		if ran != tt.runs || (after.Skipped-before.Skipped == 1) == tt.runs {
			t.Errorf("%s %s %q: ran %v (skipped %d), want ran %v", tt.helper, tt.dir, tt.payload, ran,
				after.Skipped-before.Skipped, tt.runs)
		}
		if got := e.Skip(tt.helper, p); got == tt.runs {
			t.Errorf("%s %s %q: Skip %v, want %v", tt.helper, tt.dir, tt.payload, got, !tt.runs)
		}
	}
}

// lineHelper reports pkt:line_start() in the connection mark (1 true, 2
// false, 3 nil) and drops payloads that begin with "DROP".
const lineHelper = `
    local at = pkt:line_start()
    conn:set_mark(at == true and 1 or at == false and 2 or 3)
    if pkt:payload():sub(1, 4) == "DROP" then return "drop" end`

// TestLines follows a connection's segments through the engine's line
// tracking: where each starts, whether on_packet runs, as the kernel's
// FTP helper tracks "sequence after newline".
func TestLines(t *testing.T) {
	const (
		start   = 1
		inside  = 2
		unknown = 3
		skipped = 0
	)
	type step struct {
		ctinfo  engine.CTInfo
		seq     uint32
		payload string
		want    uint32 // the mark: where it started, or skipped
	}
	orig := func(seq uint32, payload string, want uint32) step {
		return step{engine.CTEstablished, seq, payload, want}
	}
	reply := func(seq uint32, payload string, want uint32) step {
		return step{engine.CTEstablishedReply, seq, payload, want}
	}
	tests := []struct {
		name  string
		match string
		steps []step
	}{
		{"positions", "", []step{
			orig(1000, "USER a\r\n", unknown), // nothing seen yet
			orig(1008, "PAS", start),
			orig(1011, "V\r\n", inside),
			orig(1008, "PASV\r\n", start),     // a retransmission
			reply(5000, "227 x\r\n", unknown), // the other direction is its own
			orig(1014, "X\r\n", start),        // remembers 1014 and 1017, forgets 1008
			orig(1008, "PASV\r\n", inside),
			orig(1017, "Y", start),
		}},
		{"a dropped segment does not end its line", "", []step{
			orig(1, "A\r\n", unknown),
			orig(4, "DROP\r\n", start),
			orig(10, "B\r\n", inside),
			orig(4, "DROP\r\n", start), // its retransmission is examined again
		}},
		{"sequence numbers wrap", "", []step{
			orig(0xfffffffc, "AB\r\n", unknown),
			orig(0, "C\r\n", start),
			orig(3, "D", start),
			orig(0xfffffffc, "AB\r\n", inside), // 0 and 3 are remembered
		}},
		{"not before the connection is established", "", []step{
			{engine.CTNew, 1, "A\r\n", unknown},
			orig(4, "B\r\n", unknown),
			orig(7, "C", start),
		}},
		{"with a match, only matching line starts run", `match = {"PORT"},`, []step{
			orig(1, "PORT 1\r\n", unknown), // position unknown: the script decides
			orig(9, "LIST\r\n", skipped),   // not run, but its newline counts
			orig(15, "PORT 2\r\n", start),
			orig(23, "NOOP PORT", skipped),
			orig(32, "PORT 3\r\n", skipped), // inside a line: never runs
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t, engine.Config{Workers: 1})
			load(t, e, "x.lua", helperSrc("x", lineHelper, "lines = true,", tt.match))
			for i, s := range tt.steps {
				seg := enginetest.Segment{Src: "192.0.2.1", Dst: "192.0.2.2", SrcPort: 40000, DstPort: 2121,
					Seq: s.seq, Payload: s.payload}
				if s.ctinfo == engine.CTEstablishedReply {
					seg.Src, seg.Dst, seg.SrcPort, seg.DstPort = seg.Dst, seg.Src, seg.DstPort, seg.SrcPort
				}
				d := e.Handle("x", seg.Packet(s.ctinfo), conn1)
				if d.Err != nil {
					t.Fatalf("step %d: %v", i+1, d.Err)
				}
				if d.Update.Mark != s.want {
					t.Errorf("step %d (seq %d %q): mark %d, want %d", i+1, s.seq, s.payload, d.Update.Mark, s.want)
				}
			}
		})
	}
}

func TestLineStartNeedsLines(t *testing.T) {
	e := newEngine(t, engine.Config{Workers: 1})
	load(t, e, "x.lua", helperSrc("x", lineHelper))
	d := e.Handle("x", pkt1, conn1)
	if d.Err == nil || !strings.Contains(d.Err.Error(), "declare lines = true") {
		t.Fatalf("error %v, want one saying to declare lines", d.Err)
	}
}
