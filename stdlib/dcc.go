package stdlib

import (
	"errors"
	"net/netip"
)

// ParseDCC parses the argument of an IRC DCC request (CTCP "\1DCC SEND
// name ADDR PORT ...\1") at off, the byte after the DCC type, exactly as
// the kernel's nf_conntrack_irc parse_dcc reads it:
//
//   - it skips the first word (the file name or "chat") up to and
//     including the first space, failing when fewer than 12 bytes
//     ("AAAAAAAA P\1\n") would be left;
//   - a '\n' must follow somewhere in b;
//   - the address is a decimal integer (host byte order) read like the
//     kernel's simple_strtoul: digits only, no sign, wrapping at 2^64,
//     then cut to 32 bits, so that no digits at all read as 0.0.0.0;
//   - spaces, then the port, decimal like the address, at most 65535.
//
// It returns the address, the port, addrOff, the offset of the address
// text, and next, the offset after the port's digits: b[addrOff:next] is
// what a NAT helper rewrites. A port of 0 is returned as parsed: the
// kernel rejects it after parsing, as a forged command.
func ParseDCC(b []byte, off int) (addr netip.Addr, port uint16, addrOff, next int, err error) {
	end := len(b)
	p := off
	if p < 0 || p >= end {
		return addr, 0, off, off, errors.New("dcc: no argument")
	}
	for {
		c := b[p]
		p++
		if c == ' ' {
			break
		}
		if p > end-12 {
			return addr, 0, off, off, errors.New("dcc: no space before the address, or under 12 bytes after it")
		}
	}
	nl := p
	for nl < end && b[nl] != '\n' {
		nl++
	}
	if nl >= end {
		return addr, 0, off, off, errors.New("dcc: no newline after the address")
	}
	addrOff = p
	ip, p := strtoul(b, p)
	for b[p] == ' ' { // in bounds: a '\n' follows
		p++
	}
	v, p := strtoul(b, p)
	if v > 65535 {
		return addr, 0, off, off, errors.New("dcc: port over 65535")
	}
	a := uint32(ip)
	return netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}), uint16(v), addrOff, p, nil
}

// strtoul reads decimal digits at off like the kernel's simple_strtoul
// with base 10: no digits read as 0, and the value wraps at 2^64.
func strtoul(b []byte, off int) (uint64, int) {
	var v uint64
	for off < len(b) && '0' <= b[off] && b[off] <= '9' {
		v = v*10 + uint64(b[off]-'0')
		off++
	}
	return v, off
}

func init() {
	// parse.dcc(src, init) -> addr, port, at, next: at is the position
	// of the address text, so src:sub(at, next - 1) is "ADDR PORT".
	parseFuncs["dcc"] = addrPortAt(ParseDCC)
}
