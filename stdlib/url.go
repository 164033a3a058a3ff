package stdlib

import (
	"bytes"
	"errors"
	"net/netip"

	lua "github.com/yuin/gopher-lua"
)

// ParseHTTPURL parses the start of an "http://HOST[:PORT]..." URL at off
// whose HOST is an address: a dotted quad, or an IPv6 address in
// brackets (RFC 3986). The scheme is matched in any case. PORT, when
// present, must be 1..65535; it is 80 when absent. It returns the
// address, the port, hostOff, the offset of the address text (after "["
// for IPv6), and next, the offset after the port's digits, or after the
// host when there is no port: b[hostOff:next] is what a NAT helper
// rewrites for an IPv4 URL. A host name is an error: a helper cannot
// resolve it. What follows the port (the path) is not read.
func ParseHTTPURL(b []byte, off int) (addr netip.Addr, port uint16, hostOff, next int, err error) {
	const scheme = "http://"
	if off < 0 || off+len(scheme) > len(b) || !bytes.EqualFold(b[off:off+len(scheme)], []byte(scheme)) {
		return addr, 0, off, off, errors.New("http_url: want \"http://\"")
	}
	p := off + len(scheme)
	hostOff = p
	if p < len(b) && b[p] == '[' {
		hostOff = p + 1
		a, q, err := ParseIPv6Text(b, hostOff)
		if err != nil {
			return addr, 0, off, off, errors.New("http_url: " + err.Error())
		}
		if q >= len(b) || b[q] != ']' {
			return addr, 0, off, off, errors.New("http_url: want \"]\" after the IPv6 address")
		}
		addr, p = a, q+1
	} else {
		a, q, err := ParseIPv4Text(b, p)
		if err != nil {
			return addr, 0, off, off, errors.New("http_url: want an address as host: " + err.Error())
		}
		if q < len(b) && (b[q] == '.' || isHostChar(b[q])) {
			return addr, 0, off, off, errors.New("http_url: the host is a name, not an address")
		}
		addr, p = a, q
	}
	if p >= len(b) || b[p] != ':' {
		return addr, 80, hostOff, p, nil
	}
	v, q, ok := ParseUint(b, p+1)
	if !ok || v < 1 || v > 65535 {
		return addr, 0, off, off, errors.New("http_url: the port must be 1..65535")
	}
	return addr, uint16(v), hostOff, q, nil
}

// isHostChar reports whether c can continue a host name (letters, digits,
// '-'): an address followed by one is a name such as 1.2.3.4.example.
func isHostChar(c byte) bool {
	return c == '-' || ('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

// addrPortAt makes a parse function of a Go parser that returns an
// address, a port, the offset of the address text and the offset after
// what it read: the Lua function returns addr, port, at, next (1-based),
// so that src:sub(at, next - 1) is the text a NAT helper rewrites.
func addrPortAt(parse func(b []byte, off int) (netip.Addr, uint16, int, int, error)) lua.LGFunction {
	return func(L *lua.LState) int {
		b, off := args(L)
		a, p, at, next, err := parse(b, off)
		if err != nil {
			return failed(L, err)
		}
		L.Push(lua.LString(a.String()))
		L.Push(lua.LNumber(p))
		L.Push(lua.LNumber(at + 1))
		pushNext(L, next)
		return 4
	}
}

func init() {
	// parse.http_url(src, init) -> addr, port, at, next: src:sub(at,
	// next - 1) is "ADDR:PORT" (or "ADDR" without a port) of an IPv4 URL.
	parseFuncs["http_url"] = addrPortAt(ParseHTTPURL)
}
