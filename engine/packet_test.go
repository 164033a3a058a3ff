package engine_test

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/engine/enginetest"
)

func TestParsePacket(t *testing.T) {
	tests := []struct {
		name    string
		seg     enginetest.Segment
		payload string
	}{
		{"ipv4 tcp", enginetest.Segment{Src: "192.0.2.1", Dst: "192.0.2.2", SrcPort: 1, DstPort: 21, Seq: 7, Payload: "PORT x\r\n"}, "PORT x\r\n"},
		{"ipv6 tcp", enginetest.Segment{Src: "2001:db8::1", Dst: "2001:db8::2", SrcPort: 1, DstPort: 21, Seq: 7, Payload: "EPSV\r\n"}, "EPSV\r\n"},
		{"ipv4 udp", enginetest.Segment{Src: "192.0.2.1", Dst: "192.0.2.2", Proto: engine.ProtoUDP, SrcPort: 1, DstPort: 69, Payload: "\x00\x01a\x00octet\x00"}, "\x00\x01a\x00octet\x00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.seg.Build()
			p, err := engine.ParsePacket(append(b, 0, 0, 0)) // trailing padding is cut by the IP length
			if err != nil {
				t.Fatal(err)
			}
			if got := string(p.Payload()); got != tt.payload {
				t.Errorf("payload = %q, want %q", got, tt.payload)
			}
			if p.Src != netip.MustParseAddr(tt.seg.Src) || p.DstPort != tt.seg.DstPort || p.Seq != tt.seg.Seq {
				t.Errorf("parsed %+v", p)
			}
			if !enginetest.Checksums(b) {
				t.Error("built packet has bad checksums")
			}
		})
	}
	for name, b := range map[string][]byte{
		"empty":       nil,
		"version 5":   {0x50},
		"short ipv4":  {0x45, 0, 0},
		"bad ihl":     append([]byte{0x41, 0, 0, 20}, make([]byte, 16)...),
		"short tcp":   append([]byte{0x45, 0, 0, 24, 0, 0, 0, 0, 64, 6, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2}, 0, 0, 0, 0),
		"short ipv6":  {0x60, 0, 0},
		"ipv6 length": append([]byte{0x60, 0, 0, 0, 0, 100, 6, 64}, make([]byte, 32)...),
	} {
		if _, err := engine.ParsePacket(b); err == nil {
			t.Errorf("%s: ParsePacket succeeded", name)
		}
	}
}

func TestMangle(t *testing.T) {
	tests := []struct {
		name     string
		seg      enginetest.Segment
		off, n   int
		repl     string
		wantData string
	}{
		{"ipv4 tcp grow", enginetest.Segment{Src: "10.0.0.1", Dst: "192.0.2.2", SrcPort: 1, DstPort: 21, Payload: "PORT 10,0,0,1,4,1\r\n"},
			5, 12, "192,0,2,99,4,1", "PORT 192,0,2,99,4,1\r\n"},
		{"ipv4 tcp shrink", enginetest.Segment{Src: "10.0.0.1", Dst: "192.0.2.2", SrcPort: 1, DstPort: 21, Payload: "227 (192,0,2,99,4,1)\r\n"},
			5, 14, "10,0,0,1,4,1", "227 (10,0,0,1,4,1)\r\n"},
		{"ipv6 tcp", enginetest.Segment{Src: "2001:db8::1", Dst: "2001:db8::2", SrcPort: 1, DstPort: 21, Payload: "EPRT |2|2001:db8::1|1025|\r\n"},
			8, 11, "2001:db8::99", "EPRT |2|2001:db8::99|1025|\r\n"},
		{"ipv4 udp", enginetest.Segment{Src: "10.0.0.1", Dst: "192.0.2.2", Proto: engine.ProtoUDP, SrcPort: 1, DstPort: 10080, Payload: "CONNECT 50000\n"},
			8, 5, "1234", "CONNECT 1234\n"},
		{"ipv6 udp odd length", enginetest.Segment{Src: "2001:db8::1", Dst: "2001:db8::2", Proto: engine.ProtoUDP, SrcPort: 1, DstPort: 2, Payload: "abc"},
			0, 3, "abcde", "abcde"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.seg.Packet(engine.CTEstablished)
			orig := bytes.Clone(p.Data)
			out, err := engine.Mangle(p, tt.off, tt.n, []byte(tt.repl))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(p.Data, orig) {
				t.Error("Mangle modified its input")
			}
			q, err := engine.ParsePacket(out)
			if err != nil {
				t.Fatalf("mangled packet does not parse: %v", err)
			}
			if got := string(q.Payload()); got != tt.wantData {
				t.Errorf("payload = %q, want %q", got, tt.wantData)
			}
			if !enginetest.Checksums(out) {
				t.Error("mangled packet has bad checksums")
			}
		})
	}
	p := enginetest.Segment{Src: "10.0.0.1", Dst: "192.0.2.2", SrcPort: 1, DstPort: 21, Payload: "abc"}.Packet(0)
	if _, err := engine.Mangle(p, 2, 2, nil); err == nil {
		t.Error("Mangle outside the payload succeeded")
	}
}

func FuzzParsePacket(f *testing.F) {
	f.Add(enginetest.Segment{Src: "10.0.0.1", Dst: "192.0.2.2", SrcPort: 1, DstPort: 21, Payload: "PORT 1\r\n"}.Build())
	f.Add(enginetest.Segment{Src: "2001:db8::1", Dst: "2001:db8::2", Proto: engine.ProtoUDP, SrcPort: 1, DstPort: 2, Payload: "x"}.Build())
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := engine.ParsePacket(b)
		if err != nil {
			return
		}
		if p.PayloadOff > len(p.Data) || p.L4Off > p.PayloadOff {
			t.Fatalf("offsets out of order: l4 %d payload %d len %d", p.L4Off, p.PayloadOff, len(p.Data))
		}
		if p.Proto == engine.ProtoTCP || p.Proto == engine.ProtoUDP {
			pl := len(p.Data) - p.PayloadOff
			out, err := engine.Mangle(&p, 0, pl, []byte("x"))
			if err == nil {
				if _, err := engine.ParsePacket(out); err != nil {
					t.Fatalf("mangled packet does not parse: %v", err)
				}
			}
		}
	})
}
