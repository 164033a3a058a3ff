package replay

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Bounds on what a capture may declare.
const (
	maxRecord = 256 << 10 // a pcap record (snap lengths are at most 262144)
	maxBlock  = 16 << 20  // a pcapng block
)

// ErrMalformed is wrapped by the errors of a capture that is cut short or
// whose framing is corrupt.
var ErrMalformed = errors.New("malformed capture")

// framed passes a capture through to pcapgo one whole unit at a time (the
// file header, a record, a block), checking its framing: pcapgo reads a
// pcapng file cut in the middle of a block, or followed by garbage, as a
// clean end of file.
type framed struct {
	r    *bufio.Reader
	kind string
	unit func(f *framed) ([]byte, error)
	buf  []byte
	off  int
	pos  int64
	err  error
	// order is the byte order of the pcap file or current pcapng section.
	order binary.ByteOrder
}

func (f *framed) Read(p []byte) (int, error) {
	for f.off == len(f.buf) {
		if f.err != nil {
			return 0, f.err
		}
		f.pos += int64(len(f.buf))
		f.buf, f.err = f.unit(f)
		f.off = 0
	}
	n := copy(p, f.buf[f.off:])
	f.off += n
	return n, nil
}

// read reads n bytes of the unit starting at the current position;
// first says whether a clean end of file is allowed before them.
// The buffer grows with the data read, not with the length a unit claims.
func (f *framed) read(b []byte, n int, first bool) ([]byte, error) {
	buf := bytes.NewBuffer(b)
	got, err := buf.ReadFrom(io.LimitReader(f.r, int64(n)))
	if err != nil {
		return nil, fmt.Errorf("%w: %s at offset %d: %w", ErrMalformed, f.kind, f.pos, err)
	}
	if got == 0 && first {
		return nil, io.EOF
	}
	if got < int64(n) {
		return nil, fmt.Errorf("%w: %s cut short at byte %d (%d of %d bytes of a unit at offset %d)",
			ErrMalformed, f.kind, f.pos+int64(len(b))+got, int64(len(b))+got, len(b)+n, f.pos)
	}
	return buf.Bytes(), nil
}

func (f *framed) malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s at offset %d: %s", ErrMalformed, f.kind, f.pos, fmt.Sprintf(format, args...))
}

// pcapUnit reads the pcap file header, then one record at a time.
func pcapUnit(f *framed) ([]byte, error) {
	if f.order == nil {
		b, err := f.read(nil, 24, false)
		if err != nil {
			return nil, err
		}
		f.order = binary.LittleEndian
		if b[0] == 0xa1 {
			f.order = binary.BigEndian
		}
		return b, nil
	}
	b, err := f.read(nil, 16, true)
	if err != nil {
		return nil, err
	}
	n := f.order.Uint32(b[8:])
	if n > maxRecord || n > f.order.Uint32(b[12:]) {
		return nil, f.malformed("record of %d bytes (original length %d, at most %d)", n, f.order.Uint32(b[12:]), maxRecord)
	}
	return f.read(b, int(n), false)
}

// ngUnit reads one pcapng block, checking its two length fields.
func ngUnit(f *framed) ([]byte, error) {
	b, err := f.read(nil, 8, true)
	if err != nil {
		return nil, err
	}
	if binary.LittleEndian.Uint32(b) == 0x0a0d0d0a { // section header: learn the byte order
		if b, err = f.read(b, 4, false); err != nil {
			return nil, err
		}
		switch binary.LittleEndian.Uint32(b[8:]) {
		case 0x1a2b3c4d:
			f.order = binary.LittleEndian
		case 0x4d3c2b1a:
			f.order = binary.BigEndian
		default:
			return nil, f.malformed("section header with byte-order magic % x", b[8:12])
		}
	}
	if f.order == nil {
		return nil, f.malformed("first block is not a section header")
	}
	n := f.order.Uint32(b[4:])
	if n < 12 || n%4 != 0 || n > maxBlock || int(n) < len(b)+4 {
		return nil, f.malformed("block length %d (a multiple of 4, 12..%d)", n, maxBlock)
	}
	if b, err = f.read(b, int(n)-len(b), false); err != nil {
		return nil, err
	}
	if tail := f.order.Uint32(b[n-4:]); tail != n {
		return nil, f.malformed("block length %d, trailing length %d", n, tail)
	}
	return b, f.packetFits(b)
}

// packetFits checks that a packet block's captured length fits in the
// block: pcapgo allocates what the field says before reading.
func (f *framed) packetFits(b []byte) error {
	n := uint32(len(b))
	switch f.order.Uint32(b) {
	case 2, 6: // (obsolete) packet block, enhanced packet block
		if n < 32 || f.order.Uint32(b[20:]) > n-32 {
			return f.malformed("packet block of %d bytes too short for its captured length", n)
		}
	case 3: // simple packet block: the original length is all there is
		if n < 16 || f.order.Uint32(b[8:]) > n-16 {
			return f.malformed("simple packet block of %d bytes too short for its packet", n)
		}
	}
	return nil
}
