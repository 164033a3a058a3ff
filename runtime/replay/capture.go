package replay

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// A frame is one captured packet: its IP bytes and capture time.
type frame struct {
	ip   []byte
	time time.Time
}

// reader yields the IP packets of a pcap or pcapng capture.
type reader struct {
	read func() ([]byte, time.Time, layers.LinkType, error)
}

// next returns the next frame. A panic in the capture parser (gopacket
// divides by a timestamp resolution an interface block can make zero) is a
// malformed capture, not a crash.
func (r *reader) next() (data []byte, ts time.Time, lt layers.LinkType, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("%w: the capture parser failed: %v", ErrMalformed, v)
		}
	}()
	return r.read()
}

var (
	pcapMagics = [][]byte{{0xd4, 0xc3, 0xb2, 0xa1}, {0xa1, 0xb2, 0xc3, 0xd4}, {0x4d, 0x3c, 0xb2, 0xa1}, {0xa1, 0xb2, 0x3c, 0x4d}}
	ngMagic    = []byte{0x0a, 0x0d, 0x0d, 0x0a}
)

// openCapture detects pcap or pcapng by its magic number. A panic in the
// capture parser is an error wrapping ErrMalformed.
func openCapture(r io.Reader) (cr *reader, err error) {
	defer func() {
		if v := recover(); v != nil {
			cr, err = nil, fmt.Errorf("%w: the capture parser failed: %v", ErrMalformed, v)
		}
	}()
	br := bufio.NewReader(r)
	magic, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	if bytes.Equal(magic, ngMagic) {
		fr := &framed{r: br, kind: "pcapng", unit: ngUnit}
		ng, err := pcapgo.NewNgReader(fr, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return nil, fmt.Errorf("pcapng: %w", err)
		}
		return &reader{read: func() ([]byte, time.Time, layers.LinkType, error) {
			data, ci, err := ng.ReadPacketData()
			if err != nil {
				return nil, time.Time{}, 0, err
			}
			lt := ng.LinkType()
			if iface, err := ng.Interface(ci.InterfaceIndex); err == nil {
				lt = iface.LinkType
			}
			return data, ci.Timestamp, lt, nil
		}}, nil
	}
	for _, m := range pcapMagics {
		if bytes.Equal(magic, m) {
			pr, err := pcapgo.NewReader(&framed{r: br, kind: "pcap", unit: pcapUnit})
			if err != nil {
				return nil, fmt.Errorf("pcap: %w", err)
			}
			return &reader{read: func() ([]byte, time.Time, layers.LinkType, error) {
				data, ci, err := pr.ReadPacketData()
				return data, ci.Timestamp, pr.LinkType(), err
			}}, nil
		}
	}
	return nil, fmt.Errorf("capture: not a pcap or pcapng file (magic % x)", magic)
}

var errNotIP = errors.New("not an IP packet")

// ipPayload strips the link-layer header of a captured frame.
func ipPayload(data []byte, lt layers.LinkType) ([]byte, error) {
	var etype uint16
	switch lt {
	case layers.LinkTypeEthernet:
		if len(data) < 14 {
			return nil, errNotIP
		}
		etype, data = binary.BigEndian.Uint16(data[12:]), data[14:]
		for etype == 0x8100 || etype == 0x88a8 { // VLAN tags
			if len(data) < 4 {
				return nil, errNotIP
			}
			etype, data = binary.BigEndian.Uint16(data[2:]), data[4:]
		}
	case layers.LinkTypeLinuxSLL:
		if len(data) < 16 {
			return nil, errNotIP
		}
		etype, data = binary.BigEndian.Uint16(data[14:]), data[16:]
	case 276: // LINUX_SLL2
		if len(data) < 20 {
			return nil, errNotIP
		}
		etype, data = binary.BigEndian.Uint16(data), data[20:]
	case layers.LinkTypeRaw, 228, 229: // raw IP, IPv4, IPv6
		return ipVersion(data)
	case layers.LinkTypeNull, layers.LinkTypeLoop: // 4-byte family, either order
		if len(data) < 4 {
			return nil, errNotIP
		}
		return ipVersion(data[4:])
	default:
		return nil, fmt.Errorf("link type %s not supported", lt)
	}
	if etype != 0x0800 && etype != 0x86dd {
		return nil, errNotIP
	}
	return data, nil
}

func ipVersion(b []byte) ([]byte, error) {
	if len(b) == 0 || (b[0]>>4 != 4 && b[0]>>4 != 6) {
		return nil, errNotIP
	}
	return b, nil
}
