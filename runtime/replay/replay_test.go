package replay

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ctlua/ctlua/bindings"
	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/engine/enginetest"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	lua "github.com/yuin/gopher-lua"
)

// expectModule is a minimal test module: want(port) asks for an
// expectation from the other end to this end's address and the port, like
// an FTP PORT; private(s) sets private data.
type expectModule struct{}

func (expectModule) Name() string { return "t" }
func (expectModule) Open(L *lua.LState, s *engine.Session) lua.LValue {
	return L.SetFuncs(L.NewTable(), map[string]lua.LGFunction{
		"want": func(L *lua.LState) int {
			c := s.Call()
			there := c.Conn.Tuple(c.Packet.Dir().Opposite())
			x := engine.Expectation{Tuple: engine.Tuple{Src: there.Src, Dst: there.Dst, Proto: engine.ProtoTCP, DstPort: uint16(L.CheckInt(1))}}
			x.Mask = engine.Tuple{Src: fullMask(there.Src), Dst: fullMask(there.Dst), DstPort: 0xffff}
			x.Policy = "data"
			c.Decision.Expectations = append(c.Decision.Expectations, x)
			return 0
		},
		"private": func(L *lua.LState) int {
			c := s.Call()
			c.Decision.Update.Private, c.Decision.Update.PrivateSet = []byte(L.CheckString(1)), true
			return 0
		},
	})
}

func fullMask(a netip.Addr) netip.Addr {
	if a.Is4() {
		return netip.MustParseAddr("255.255.255.255")
	}
	return netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
}

// capture writes packets as an Ethernet (or raw IP) pcap.
func capture(t *testing.T, raw bool, pkts ...[]byte) *bytes.Buffer {
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	lt := layers.LinkTypeEthernet
	if raw {
		lt = layers.LinkTypeRaw
	}
	if err := w.WriteFileHeader(65535, lt); err != nil {
		t.Fatal(err)
	}
	ts := time.Unix(1700000000, 0)
	for i, p := range pkts {
		data := p
		if !raw {
			eth := make([]byte, 14, 14+len(p))
			eth[12], eth[13] = 0x08, 0x00
			if p[0]>>4 == 6 {
				eth[12], eth[13] = 0x86, 0xdd
			}
			data = append(eth, p...)
		}
		ci := gopacket.CaptureInfo{Timestamp: ts.Add(time.Duration(i) * time.Second), CaptureLength: len(data), Length: len(data)}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	return &buf
}

const script = `local t = require("t")
return { name = "x", l4 = "tcp", ports = {21}, private_size = 4,
  policies = {{name = "data", max_expected = %d, timeout = %d}},
  on_packet = function(pkt, conn)
    local p = pkt:payload()
    local m = p:match("^WANT (%%d+)")
    local port = m and tonumber(m)
    if port then t.want(port) end
    if p:match("^PRIV") then t.private("abcd") end
    if p:match("^CHECK") and conn:private() ~= "abcd" then error("private data lost") end
  end }`

func run(t *testing.T, maxExp, timeout int, in *bytes.Buffer) ([]Event, Summary) {
	r := New(Options{})
	e, err := engine.New(engine.Config{Workers: 1, Modules: append(bindings.Default(), expectModule{}), Conntrack: r.Conntrack(), Expecter: r.Expecter()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := e.Load("x.lua", []byte(fmt.Sprintf(script, maxExp, timeout)), nil); err != nil {
		t.Fatal(err)
	}
	var evs []Event
	sum, err := r.Run(context.Background(), e, "x", in, func(ev Event) { evs = append(evs, ev) })
	if err != nil {
		t.Fatal(err)
	}
	return evs, sum
}

func seg(src, dst string, sport, dport uint16, flags uint8, payload string) []byte {
	return enginetest.Segment{Src: src, Dst: dst, SrcPort: sport, DstPort: dport, Flags: flags, Payload: payload}.Build()
}

func TestCTInfoSequence(t *testing.T) {
	for _, fam := range []struct{ c, s string }{{"192.0.2.1", "192.0.2.2"}, {"2001:db8::1", "2001:db8::2"}} {
		c, s := fam.c, fam.s
		in := capture(t, fam.c == "192.0.2.1",
			seg(c, s, 4000, 21, engine.TCPSyn, ""),
			seg(s, c, 21, 4000, engine.TCPSyn|engine.TCPAck, ""),
			seg(c, s, 4000, 21, engine.TCPAck, ""),
			seg(c, s, 4000, 21, 0, "PRIV\r\n"),
			seg(c, s, 4000, 21, 0, "CHECK\r\n"),
			seg(c, s, 4000, 21, engine.TCPFin|engine.TCPAck, ""),
			seg(s, c, 21, 4000, engine.TCPFin|engine.TCPAck, ""),
			seg(c, s, 5555, 80, engine.TCPSyn, ""), // not helped
		)
		evs, sum := run(t, 1, 60, in)
		var got []string
		for _, ev := range evs {
			if ev.Kind == EventPacket && ev.Helped {
				got = append(got, ev.Packet.CTInfo.String())
				if ev.Decision.Err != nil {
					t.Error(ev.Decision.Err)
				}
			}
		}
		want := "new established_reply established established established established established_reply"
		if strings.Join(got, " ") != want {
			t.Errorf("%s: ctinfo %v, want %s", c, got, want)
		}
		if sum.Packets != 8 || sum.Helped != 7 || sum.Connections != 2 {
			t.Errorf("summary %+v", sum)
		}
	}
}

func TestExpectationMakesRelated(t *testing.T) {
	c, s := "192.0.2.1", "192.0.2.2"
	in := capture(t, false,
		seg(c, s, 4000, 21, engine.TCPSyn, ""),
		seg(s, c, 21, 4000, engine.TCPSyn|engine.TCPAck, ""),
		seg(c, s, 4000, 21, 0, "WANT 5001\r\n"),
		seg(c, s, 4000, 21, 0, "WANT 5002\r\n"), // max_expected 1: evicts 5001
		seg(s, c, 20, 5001, engine.TCPSyn, ""),  // not related any more
		seg(s, c, 20, 5002, engine.TCPSyn, ""),  // related
		seg(c, s, 4000, 21, 0, "WANT 5003\r\n"),
		seg(s, c, 20, 5003, engine.TCPSyn, ""), // related
	)
	// Packets are one second apart: with a 2 s timeout, the expectation made
	// at t=1 is gone when the data connection comes at t=4.
	in2 := capture(t, false,
		seg(c, s, 4000, 21, engine.TCPSyn, ""),
		seg(c, s, 4000, 21, 0, "WANT 6000\r\n"),
		seg(s, c, 21, 4000, 0, "x"),
		seg(s, c, 21, 4000, 0, "y"),
		seg(s, c, 20, 6000, engine.TCPSyn, ""),
	)
	evs, sum := run(t, 1, 10, in)
	var related []uint16
	gone := 0
	for _, ev := range evs {
		switch ev.Kind {
		case EventRelated:
			related = append(related, ev.Conn.Orig.DstPort)
			if ev.Conn.Master == nil || ev.Conn.Master.DstPort != 21 || ev.Conn.Status&engine.StatusExpected == 0 {
				t.Errorf("related conn %+v", ev.Conn)
			}
		case EventExpectGone:
			gone++
			if ev.Reason != "evicted" {
				t.Errorf("expectation gone: %s", ev.Reason)
			}
		case EventPacket:
			if ev.Conn.Orig.DstPort == 5002 && ev.Packet.CTInfo != engine.CTRelated {
				t.Errorf("first packet of the related conn has ctinfo %v", ev.Packet.CTInfo)
			}
		}
	}
	if fmt.Sprint(related) != "[5002 5003]" || gone != 1 || sum.Expectations != 3 || sum.Related != 2 {
		t.Errorf("related %v, gone %d, summary %+v", related, gone, sum)
	}
	evs, _ = run(t, 1, 2, in2)
	for _, ev := range evs {
		if ev.Kind == EventRelated {
			t.Errorf("an expired expectation matched: %+v", ev.Conn.Orig)
		}
	}
}

func TestNotACapture(t *testing.T) {
	r := New(Options{})
	e, _ := engine.New(engine.Config{Workers: 1, Modules: []engine.Module{expectModule{}}})
	defer e.Close()
	e.Load("x.lua", []byte(fmt.Sprintf(script, 1, 1)), nil)
	if _, err := r.Run(context.Background(), e, "x", strings.NewReader("hello world"), func(Event) {}); err == nil {
		t.Error("a text file replayed")
	}
}

func FuzzIPPayload(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x81, 0, 0, 1, 0x08, 0, 0x45}, uint16(1))
	f.Fuzz(func(t *testing.T, b []byte, lt uint16) {
		ip, err := ipPayload(b, layers.LinkType(lt))
		if err == nil {
			engine.ParsePacket(ip)
		}
	})
}
