package stdlib

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/ctlua/ctlua/bindings"
	"net/netip"
)

// ErrIncomplete is returned when the input ends before the form does: the
// rest may come in the next segment.
var ErrIncomplete = errors.New("incomplete")

// maxExact is the largest integer a Lua number holds exactly.
const maxExact = 1 << 53

// ParseUint parses the decimal digits at off. It returns the value and the
// offset after the last digit; ok is false when there is no digit or the
// value exceeds 2^53.
func ParseUint(b []byte, off int) (v uint64, next int, ok bool) {
	i := off
	for i >= 0 && i < len(b) && '0' <= b[i] && b[i] <= '9' {
		v = v*10 + uint64(b[i]-'0')
		if v > maxExact {
			return 0, off, false
		}
		i++
	}
	return v, i, i > off && off >= 0
}

// ParsePortPair parses "h1,h2,h3,h4,p1,p2" at off, the address and port of
// an FTP PORT command and 227 reply (RFC 959): six decimal numbers 0..255
// separated by commas, as the kernel's try_rfc959 accepts them.
func ParsePortPair(b []byte, off int) (addr netip.Addr, port uint16, next int, err error) {
	var n [6]uint64
	i := off
	for k := range n {
		if k > 0 {
			if i >= len(b) {
				return addr, 0, off, fmt.Errorf("port pair: %w after number %d", ErrIncomplete, k)
			}
			if b[i] != ',' {
				return addr, 0, off, fmt.Errorf("port pair: want ',' after number %d, got %q", k, b[i])
			}
			i++
		}
		v, j, ok := ParseUint(b, i)
		if !ok {
			if i >= len(b) {
				return addr, 0, off, fmt.Errorf("port pair: %w at number %d", ErrIncomplete, k+1)
			}
			return addr, 0, off, fmt.Errorf("port pair: number %d missing", k+1)
		}
		if v > 255 {
			return addr, 0, off, fmt.Errorf("port pair: number %d is %d, must be 0..255", k+1, v)
		}
		n[k], i = v, j
	}
	addr = netip.AddrFrom4([4]byte{byte(n[0]), byte(n[1]), byte(n[2]), byte(n[3])})
	return addr, uint16(n[4]<<8 | n[5]), i, nil
}

// ParseEPRT parses the RFC 2428 argument "<d>af<d>addr<d>port<d>" at off.
// The delimiter d is the first character (ASCII 33..126); af 1 is an IPv4
// dotted quad, af 2 an IPv6 address in text.
func ParseEPRT(b []byte, off int) (addr netip.Addr, port uint16, af int, next int, err error) {
	if off < 0 || off >= len(b) {
		return addr, 0, 0, off, fmt.Errorf("eprt: %w", ErrIncomplete)
	}
	d := b[off]
	if d < 33 || d > 126 || ('0' <= d && d <= '9') {
		return addr, 0, 0, off, fmt.Errorf("eprt: bad delimiter %q", d)
	}
	i := off + 1
	v, i, ok := ParseUint(b, i)
	if !ok || (v != 1 && v != 2) {
		return addr, 0, 0, off, errors.New("eprt: address family must be 1 or 2")
	}
	af = int(v)
	if i >= len(b) || b[i] != d {
		return addr, 0, 0, off, errors.New("eprt: want delimiter after the address family")
	}
	i++
	end := bytes.IndexByte(b[i:], d)
	if end < 0 {
		return addr, 0, 0, off, fmt.Errorf("eprt: %w address", ErrIncomplete)
	}
	text := b[i : i+end]
	if af == 1 {
		addr, next, err = ParseIPv4Text(text, 0)
	} else {
		addr, next, err = ParseIPv6Text(text, 0)
	}
	if err != nil || next != len(text) {
		return netip.Addr{}, 0, 0, off, fmt.Errorf("eprt: bad address %q for family %d", text, af)
	}
	i += end + 1
	p, j, ok := ParseUint(b, i)
	if !ok || p > 65535 {
		return netip.Addr{}, 0, 0, off, errors.New("eprt: bad port")
	}
	if j >= len(b) || b[j] != d {
		return netip.Addr{}, 0, 0, off, errors.New("eprt: want delimiter after the port")
	}
	return addr, uint16(p), af, j + 1, nil
}

// ParseEPSV parses the RFC 2428 229 reply argument "<d><d><d>port<d>" at
// off.
func ParseEPSV(b []byte, off int) (port uint16, next int, err error) {
	if off < 0 || off+3 > len(b) {
		return 0, off, fmt.Errorf("epsv: %w", ErrIncomplete)
	}
	d := b[off]
	if d < 33 || d > 126 || ('0' <= d && d <= '9') || b[off+1] != d || b[off+2] != d {
		return 0, off, errors.New("epsv: want three delimiters")
	}
	p, j, ok := ParseUint(b, off+3)
	if !ok || p > 65535 {
		return 0, off, errors.New("epsv: bad port")
	}
	if j >= len(b) || b[j] != d {
		return 0, off, errors.New("epsv: want delimiter after the port")
	}
	return uint16(p), j + 1, nil
}

// ParseIPv4Text parses a dotted-quad IPv4 address at off, stopping at the
// first character that cannot continue it.
func ParseIPv4Text(b []byte, off int) (netip.Addr, int, error) {
	var a [4]byte
	i := off
	for k := range a {
		if k > 0 {
			if i >= len(b) || b[i] != '.' {
				return netip.Addr{}, off, errors.New("ipv4: want four numbers separated by dots")
			}
			i++
		}
		v, j, ok := ParseUint(b, i)
		if !ok || v > 255 || j-i > 3 {
			return netip.Addr{}, off, errors.New("ipv4: numbers must be 0..255")
		}
		a[k], i = byte(v), j
	}
	return netip.AddrFrom4(a), i, nil
}

// ParseIPv6Text parses an IPv6 address in text at off, stopping at the
// first character that cannot belong to it.
func ParseIPv6Text(b []byte, off int) (netip.Addr, int, error) {
	i := off
	for i >= 0 && i < len(b) && isIPv6Char(b[i]) {
		i++
	}
	if i <= off {
		return netip.Addr{}, off, errors.New("ipv6: no address")
	}
	a, err := netip.ParseAddr(string(b[off:i]))
	if err != nil || !a.Is6() || a.Zone() != "" {
		return netip.Addr{}, off, fmt.Errorf("ipv6: bad address %q", b[off:i])
	}
	return a, i, nil
}

func isIPv6Char(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F') || c == ':' || c == '.'
}

// ParseIP returns the n-byte (4 or 16) binary address at off.
func ParseIP(b []byte, off, n int) (netip.Addr, error) {
	if n != 4 && n != 16 {
		return netip.Addr{}, fmt.Errorf("ip: length must be 4 or 16, got %d", n)
	}
	if off < 0 || off+n > len(b) {
		return netip.Addr{}, fmt.Errorf("ip: %w", ErrIncomplete)
	}
	if n == 4 {
		return netip.AddrFrom4([4]byte(b[off : off+4])), nil
	}
	return netip.AddrFrom16([16]byte(b[off : off+16])), nil
}

// SkipToDigit returns the offset of the first digit at or after off, as
// the kernel looks for the numbers of a 227 reply (RFC 1123: they may
// appear anywhere after the code).
func SkipToDigit(b []byte, off int) (int, bool) {
	for i := max(off, 0); i < len(b); i++ {
		if '0' <= b[i] && b[i] <= '9' {
			return i, true
		}
	}
	return off, false
}

// Line returns the line at off without its "\n" or "\r\n", and the
// offset after the line end; ok is false when no "\n" follows. It is the
// packet module's line reader.
func Line(b []byte, off int) (line []byte, next int, ok bool) { return bindings.LineAt(b, off) }

// ParseHeader parses a "Key: value" line at off. The value is trimmed of
// spaces and tabs. A line without ':' is an error; a line without its end
// wraps ErrIncomplete.
func ParseHeader(b []byte, off int) (key, value []byte, next int, err error) {
	line, next, ok := Line(b, off)
	if !ok {
		return nil, nil, off, fmt.Errorf("header: %w line", ErrIncomplete)
	}
	c := bytes.IndexByte(line, ':')
	if c <= 0 {
		return nil, nil, off, fmt.Errorf("header: want \"Key: value\", got %q", line)
	}
	return bytes.TrimRight(line[:c], " \t"), bytes.Trim(line[c+1:], " \t"), next, nil
}
