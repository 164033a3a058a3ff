package hasync

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/runtime/nfq"
)

var (
	master = engine.Tuple{Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("198.51.100.2"),
		Proto: engine.ProtoTCP, SrcPort: 40000, DstPort: 21}
	natExpect = engine.Expectation{
		Tuple: engine.Tuple{Src: netip.MustParseAddr("198.51.100.2"), Dst: netip.MustParseAddr("198.51.100.254"),
			Proto: engine.ProtoTCP, DstPort: 50000},
		Mask: engine.Tuple{Src: netip.MustParseAddr("255.255.255.255"), Dst: netip.MustParseAddr("255.255.255.255"),
			Proto: 0xff, DstPort: 0xffff},
		Class: 1, Policy: "ftp", Flags: engine.ExpectPermanent, Helper: "ftp", Fn: "nat-follow-master",
		NAT: &engine.ExpectNAT{Dir: engine.Original, Tuple: engine.Tuple{Src: netip.MustParseAddr("192.0.2.1"), SrcPort: 50001}},
	}
)

func TestMessageRoundTrip(t *testing.T) {
	adj := [2]nfq.SeqAdjust{{Pos: 4000000000, Before: 0, After: 5}, {Pos: 7, Before: -1, After: -2}}
	for _, m := range []Message{
		{V: Version, Kind: KindExpect, Master: master, Zone: 3, Expect: &natExpect},
		{V: Version, Kind: KindSeqAdj, Master: master, SeqAdj: &adj},
		{V: Version, Kind: KindUnexpect, Master: master, Expect: &natExpect},
	} {
		b, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("%s: %v (%s)", m.Kind, err, b)
		}
		if got.Master != m.Master || got.Zone != m.Zone || got.Kind != m.Kind {
			t.Errorf("%s: got %+v, want %+v", m.Kind, got, m)
		}
		if m.Expect != nil {
			e := got.Expect
			if e.Tuple != m.Expect.Tuple || e.Mask != m.Expect.Mask || e.Class != 1 || e.Policy != "ftp" ||
				e.Flags != engine.ExpectPermanent || e.Helper != "ftp" || e.Fn != "nat-follow-master" ||
				e.NAT == nil || *e.NAT != *m.Expect.NAT {
				t.Errorf("expectation: got %+v, want %+v", e, m.Expect)
			}
		}
		if m.SeqAdj != nil && *got.SeqAdj != *m.SeqAdj {
			t.Errorf("seqadj: got %+v, want %+v", *got.SeqAdj, *m.SeqAdj)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	ok := `"master":{"Src":"192.0.2.1","Dst":"198.51.100.2","Proto":6,"SrcPort":1,"DstPort":21}`
	for _, c := range []struct{ name, in, want string }{
		{"not json", `PORT 1,2,3`, "not a sync message"},
		{"version", `{"v":2,"kind":"seqadj",` + ok + `,"seqadj":[{},{}]}`, "version 2"},
		{"kind", `{"v":1,"kind":"state",` + ok + `}`, `unknown kind "state"`},
		{"no master", `{"v":1,"kind":"seqadj","seqadj":[{},{}]}`, "master: protocol"},
		{"icmp", `{"v":1,"kind":"seqadj","master":{"Src":"192.0.2.1","Dst":"192.0.2.2","Proto":1},"seqadj":[{},{}]}`, "protocol must be"},
		{"families", `{"v":1,"kind":"seqadj","master":{"Src":"192.0.2.1","Dst":"2001:db8::1","Proto":6},"seqadj":[{},{}]}`, "different families"},
		{"no expect", `{"v":1,"kind":"expect",` + ok + `}`, "needs expect"},
		{"unexpect without expect", `{"v":1,"kind":"unexpect",` + ok + `}`, "needs expect"},
		{"seqadj udp", `{"v":1,"kind":"seqadj","master":{"Src":"192.0.2.1","Dst":"192.0.2.2","Proto":17},"seqadj":[{},{}]}`, "needs a TCP"},
		{"expect family", `{"v":1,"kind":"expect",` + ok + `,"expect":{"Tuple":{"Dst":"2001:db8::1","Proto":6}}}`, "different families"},
		{"nat dir", `{"v":1,"kind":"expect",` + ok + `,"expect":{"Tuple":{"Dst":"192.0.2.1","Proto":6},"NAT":{"Dir":7}}}`, "nat.dir"},
		{"big", `{"v":1,` + strings.Repeat(" ", MaxMessage) + `}`, "over"},
	} {
		_, err := Decode([]byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error with %q", c.name, err, c.want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	adj := [2]nfq.SeqAdjust{{Pos: 1, After: 5}}
	for _, m := range []Message{
		{V: Version, Kind: KindExpect, Master: master, Expect: &natExpect},
		{V: Version, Kind: KindSeqAdj, Master: master, SeqAdj: &adj},
	} {
		b, _ := m.Encode()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		// What decodes encodes again and decodes to the same.
		b2, err := m.Encode()
		if err != nil {
			t.Fatalf("decoded message does not encode: %v", err)
		}
		if _, err := Decode(b2); err != nil {
			t.Fatalf("re-encoded message does not decode: %v", err)
		}
	})
}
