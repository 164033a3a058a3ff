package replay

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/ctlua/ctlua/bindings"
	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/stdlib"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// frames reads the frames of a pcap file.
func frames(t testing.TB, file string) ([][]byte, []gopacket.CaptureInfo) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	r, err := pcapgo.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var fs [][]byte
	var cis []gopacket.CaptureInfo
	for {
		d, ci, err := r.ReadPacketData()
		if err != nil {
			return fs, cis
		}
		fs, cis = append(fs, d), append(cis, ci)
	}
}

// writeCapture writes frames as pcap (Ethernet) or pcapng.
func writeCapture(t testing.TB, ng bool, fs [][]byte, cis []gopacket.CaptureInfo) []byte {
	var buf bytes.Buffer
	if ng {
		w, err := pcapgo.NewNgWriter(&buf, layers.LinkTypeEthernet)
		if err != nil {
			t.Fatal(err)
		}
		for i := range fs {
			cis[i].CaptureLength, cis[i].Length = len(fs[i]), len(fs[i])
			w.WritePacket(cis[i], fs[i])
		}
		w.Flush()
		return buf.Bytes()
	}
	w := pcapgo.NewWriter(&buf)
	w.WriteFileHeader(65536, layers.LinkTypeEthernet)
	for i := range fs {
		cis[i].CaptureLength, cis[i].Length = len(fs[i]), len(fs[i])
		w.WritePacket(cis[i], fs[i])
	}
	return buf.Bytes()
}

// ftpReplay replays a capture through the shipped FTP helper.
func ftpReplay(t testing.TB, capture []byte) (Summary, error) {
	t.Helper()
	r := New(Options{})
	e, err := engine.New(engine.Config{Workers: 1, Modules: append(bindings.Default(), stdlib.Modules()...),
		Conntrack: r.Conntrack(), Expecter: r.Expecter()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := e.LoadFile("../../scripts/ftp/helper.lua", nil); err != nil {
		t.Fatal(err)
	}
	return r.Run(context.Background(), e, "ftp", bytes.NewReader(capture), func(Event) {})
}

func TestMalformedCaptures(t *testing.T) {
	fs, cis := frames(t, "../../scripts/ftp/testdata/ipv4-port.pcap")
	for _, ng := range []bool{false, true} {
		good := writeCapture(t, ng, fs, cis)
		sum, err := ftpReplay(t, good)
		if err != nil || sum.Packets != len(fs) {
			t.Fatalf("ng=%v: whole capture: %d packets, %v", ng, sum.Packets, err)
		}
		for name, b := range map[string][]byte{
			"cut in a record":  good[:len(good)-10],
			"cut in half":      good[:len(good)/2],
			"cut after 40":     good[:40],
			"trailing garbage": append(append([]byte{}, good...), bytes.Repeat([]byte{0xff}, 100)...),
			"trailing zeros":   append(append([]byte{}, good...), make([]byte, 20)...),
		} {
			if _, err := ftpReplay(t, b); !errors.Is(err, ErrMalformed) {
				t.Errorf("ng=%v %s: %v, want ErrMalformed", ng, name, err)
			} else {
				t.Logf("ng=%v %s: %v", ng, name, err)
			}
		}
	}
}

// fragment4 splits the IPv4 packet in an Ethernet frame in two fragments
// at payload offset at (a multiple of 8).
func fragment4(frame []byte, at int) [][]byte {
	eth, ip := frame[:14], frame[14:]
	ihl := int(ip[0]&0x0f) * 4
	payload := ip[ihl:]
	mk := func(off int, data []byte, more bool) []byte {
		h := append([]byte{}, ip[:ihl]...)
		binary.BigEndian.PutUint16(h[2:], uint16(ihl+len(data)))
		fo := uint16(off / 8)
		if more {
			fo |= 0x2000
		}
		binary.BigEndian.PutUint16(h[6:], fo)
		h[10], h[11] = 0, 0
		binary.BigEndian.PutUint16(h[10:], ^checksum(h))
		return append(append(append([]byte{}, eth...), h...), data...)
	}
	return [][]byte{mk(0, payload[:at], true), mk(at, payload[at:], false)}
}

// fragment6 does the same for IPv6, inserting a fragment header.
func fragment6(frame []byte, at int) [][]byte {
	eth, ip := frame[:14], frame[14:]
	payload := ip[40:]
	mk := func(off int, data []byte, more bool) []byte {
		h := append([]byte{}, ip[:40]...)
		fh := []byte{ip[6], 0, 0, 0, 0, 0, 0x12, 0x34}
		fo := uint16(off)
		if more {
			fo |= 1
		}
		binary.BigEndian.PutUint16(fh[2:], fo)
		h[6] = 44
		binary.BigEndian.PutUint16(h[4:], uint16(8+len(data)))
		return append(append(append(append([]byte{}, eth...), h...), fh...), data...)
	}
	return [][]byte{mk(0, payload[:at], true), mk(at, payload[at:], false)}
}

// TestFragmentsReassembled: the kernel reassembles before conntrack, so a
// command split over fragments reaches the helper whole. The reply
// fragment arrives first, to check order does not matter.
func TestFragmentsReassembled(t *testing.T) {
	for _, tt := range []struct {
		file  string
		split func([]byte, int) [][]byte
	}{
		{"ipv4-port.pcap", fragment4}, {"ipv6-eprt.pcap", fragment6}, {"ipv4-pasv.pcap", fragment4},
	} {
		t.Run(tt.file, func(t *testing.T) {
			fs, cis := frames(t, "../../scripts/ftp/testdata/"+tt.file)
			want, err := ftpReplay(t, writeCapture(t, false, fs, cis))
			if err != nil || want.Expectations == 0 {
				t.Fatalf("unfragmented: %+v %v", want, err)
			}
			var ffs [][]byte
			var fcis []gopacket.CaptureInfo
			split := 0
			for i, f := range fs {
				l4 := len(f) - 14 - 40
				if l4 > 40 {
					parts := tt.split(f, 16)
					ffs, fcis = append(ffs, parts[1], parts[0]), append(fcis, cis[i], cis[i])
					split++
					continue
				}
				ffs, fcis = append(ffs, f), append(fcis, cis[i])
			}
			got, err := ftpReplay(t, writeCapture(t, false, ffs, fcis))
			if err != nil || got.Expectations != want.Expectations || got.Helped != want.Helped || got.Reassembled != split || split == 0 {
				t.Fatalf("fragmented (%d split): %+v %v, want %+v", split, got, err, want)
			}
		})
	}
}

// TestUDPLength: a UDP length field larger than the packet, or smaller
// than the header, makes the packet invalid for conntrack: no helper.
func TestUDPLength(t *testing.T) {
	ok := seg("192.0.2.1", "192.0.2.2", 1000, 69, 0, "")
	ok = udp(ok)
	for _, tt := range []struct {
		ulen    uint16
		invalid bool
	}{{0, false}, {7, true}, {200, true}, {8, false}} {
		p := append([]byte{}, ok...)
		if tt.ulen != 0 {
			binary.BigEndian.PutUint16(p[20+4:], tt.ulen)
		}
		pkt, err := engine.ParsePacket(p)
		if err != nil {
			t.Fatal(err)
		}
		if validLengths(&pkt) == tt.invalid {
			t.Errorf("UDP length %d: valid=%v", tt.ulen, !tt.invalid)
		}
	}
}

// udp turns a TCP test segment into a UDP datagram with 4 payload bytes.
func udp(tcp []byte) []byte {
	p := append([]byte{}, tcp[:20]...)
	p[9] = 17
	u := []byte{0x03, 0xe8, 0, 69, 0, 12, 0, 0, 'a', 'b', 'c', 'd'}
	p = append(p, u...)
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	return p
}

// FuzzCapture: any capture file reads to the end or to an error, without
// a panic.
func FuzzCapture(f *testing.F) {
	fs, cis := frames(f, "../../scripts/ftp/testdata/ipv4-port.pcap")
	f.Add(writeCapture(f, false, fs[:3], cis[:3]))
	f.Add(writeCapture(f, true, fs[:3], cis[:3]))
	f.Fuzz(func(t *testing.T, b []byte) {
		cr, err := openCapture(bytes.NewReader(b))
		if err != nil {
			return
		}
		d := newDefragmenter()
		for range 10000 {
			data, ts, lt, err := cr.next()
			if err != nil {
				return
			}
			if ip, err := ipPayload(data, lt); err == nil {
				if whole, _ := d.add(ip, ts); whole != nil {
					engine.ParsePacket(whole)
				}
			}
		}
	})
}

// TestParserPanicIsAnError: an interface block whose timestamp resolution
// is 10^-127 makes gopacket divide by zero; the replay reports a malformed
// capture.
func TestParserPanicIsAnError(t *testing.T) {
	fs, cis := frames(t, "../../scripts/ftp/testdata/ipv4-port.pcap")
	b := writeCapture(t, true, fs[:2], cis[:2])
	// Append if_tsresol = 127 to the interface description block: rewrite
	// it with the option before its end-of-options.
	shbLen := binary.LittleEndian.Uint32(b[4:])
	idb := b[shbLen:]
	idbLen := binary.LittleEndian.Uint32(idb[4:])
	body := append([]byte{}, idb[8:idbLen-4]...)
	body = append(body[:len(body)-4], 9, 0, 1, 0, 127, 0, 0, 0, 0, 0, 0, 0) // if_tsresol, then opt_endofopt
	n := uint32(8 + len(body) + 4)
	nb := binary.LittleEndian.AppendUint32(nil, 1)
	nb = binary.LittleEndian.AppendUint32(nb, n)
	nb = append(nb, body...)
	nb = binary.LittleEndian.AppendUint32(nb, n)
	capture := append(append(append([]byte{}, b[:shbLen]...), nb...), idb[idbLen:]...)
	_, err := ftpReplay(t, capture)
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "parser failed") {
		t.Fatalf("%v, want ErrMalformed from a parser panic", err)
	}
	t.Log(err)
}
