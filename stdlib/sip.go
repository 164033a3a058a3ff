package stdlib

import (
	"errors"
	"fmt"
	"net/netip"
)

// SIP and SDP parsers, following the kernel's nf_conntrack_sip
// (ct_sip_get_header, ct_sip_parse_header_uri, ct_sip_parse_param,
// ct_sip_get_sdp_header). Offsets are 0-based here; the Lua functions in
// module.go turn them into 1-based positions.

// sipCompact maps the lower-case full names of SIP headers to their
// compact forms (RFC 3261 section 7.3.3 and later RFCs).
var sipCompact = map[string]byte{
	"accept-contact": 'a', "allow-events": 'u', "call-id": 'i', "contact": 'm',
	"content-encoding": 'e', "content-length": 'l', "content-type": 'c',
	"event": 'o', "from": 'f', "identity": 'y', "refer-to": 'r',
	"referred-by": 'b', "reject-contact": 'j', "request-disposition": 'd',
	"session-expires": 'x', "subject": 's', "supported": 'k', "to": 't', "via": 'v',
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func isAlpha(c byte) bool { c = lower(c); return 'a' <= c && c <= 'z' }

// hasPrefixFold reports whether b[off:] starts with s, ASCII
// case-insensitively.
func hasPrefixFold(b []byte, off int, s string) bool {
	if off < 0 || len(b)-off < len(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if lower(b[off+i]) != lower(s[i]) {
			return false
		}
	}
	return true
}

// lineStart reports whether a line begins at i: i follows a '\n', or a
// '\r' that no '\n' follows (RFC 2543 allows CR, LF or CRLF).
func lineStart(b []byte, i int) bool {
	if i <= 0 || i > len(b) {
		return false
	}
	return b[i-1] == '\n' || (b[i-1] == '\r' && (i == len(b) || b[i] != '\n'))
}

// lineEnd returns the offset of the '\r' or '\n' that ends the line
// holding off, or len(b).
func lineEnd(b []byte, off int) int {
	for i := off; i < len(b); i++ {
		if b[i] == '\r' || b[i] == '\n' {
			return i
		}
	}
	return len(b)
}

// afterEOL returns the offset after the line end at i ("\r\n", "\r" or
// "\n"); i must be a line end or len(b).
func afterEOL(b []byte, i int) int {
	if i < len(b) && b[i] == '\r' {
		i++
	}
	if i < len(b) && b[i] == '\n' {
		i++
	}
	return i
}

// skipSIPSpace skips spaces, tabs and line ends followed by a
// continuation line (folding, which counts as one space). It returns -1
// when a line end that does not continue comes first.
func skipSIPSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t':
			i++
		case '\r', '\n':
			j := afterEOL(b, i)
			if j >= len(b) || (b[j] != ' ' && b[j] != '\t') {
				return -1
			}
			i = j
		default:
			return i
		}
	}
	return -1
}

// logicalLineEnd returns the end of the header value at off, folded
// continuation lines included (the offset of its final line end), and the
// offset after that line end.
func logicalLineEnd(b []byte, off int) (end, next int) {
	end = lineEnd(b, off)
	for {
		next = afterEOL(b, end)
		if next >= len(b) || (b[next] != ' ' && b[next] != '\t') || next == end {
			return end, next
		}
		end = lineEnd(b, next)
	}
}

// SIPHeader finds the first header called name (case-insensitively, or
// its compact form such as "m" for Contact, which must not be followed by
// a letter) on a line that begins at or after off (never the start line), like the kernel's
// ct_sip_get_header: whitespace and folded lines may surround the colon.
// The search ends at the empty line that ends the headers. It returns the
// offsets of the value (start, and end exclusive, trailing whitespace
// trimmed, folded lines included) and the offset after the header's last
// line; ok is false when there is no such header.
func SIPHeader(b []byte, off int, name string) (start, end, next int, ok bool) {
	compact, hasCompact := sipCompact[string(lowerString(name))]
	for i := max(off, 1); i <= len(b); i++ {
		if !lineStart(b, i) {
			continue
		}
		if i == len(b) || b[i] == '\r' || b[i] == '\n' {
			return 0, 0, off, false // end of the headers
		}
		var at int
		switch {
		case hasPrefixFold(b, i, name):
			at = i + len(name)
		case hasCompact && i+1 < len(b) && lower(b[i]) == compact && !isAlpha(b[i+1]):
			at = i + 1
		default:
			continue
		}
		at = skipSIPSpace(b, at)
		if at < 0 || b[at] != ':' {
			continue
		}
		v := skipSIPSpace(b, at+1)
		if v < 0 { // empty value
			v = lineEnd(b, at+1)
		}
		end, next = logicalLineEnd(b, v)
		for end > v && (b[end-1] == ' ' || b[end-1] == '\t') {
			end--
		}
		return v, end, next, true
	}
	return 0, 0, off, false
}

func lowerString(s string) []byte {
	out := []byte(s)
	for i := range out {
		out[i] = lower(out[i])
	}
	return out
}

// ErrSIPPort is wrapped when a SIP URI names a port outside 1024..65535,
// which the kernel refuses (the message is dropped).
var ErrSIPPort = errors.New("port must be 1024..65535")

// SIPURI parses the address of the first "sip:" URI (case-insensitive)
// at or after off on the line holding off, like the kernel's
// ct_sip_parse_header_uri: the user part up to '@' is skipped, the host is
// a dotted quad or an IPv6 address in brackets, and the port, when
// present, must be 1024..65535 (5060 when absent). It returns the address,
// the port, the offset where the host starts and the offset after the
// host and port.
func SIPURI(b []byte, off int) (addr netip.Addr, port uint16, start, next int, err error) {
	if off < 0 || off > len(b) {
		return addr, 0, 0, off, errors.New("sip uri: position out of range")
	}
	eol := lineEnd(b, off)
	i := off
	for ; i+4 <= eol; i++ {
		if hasPrefixFold(b, i, "sip:") {
			break
		}
	}
	if i+4 > eol {
		return addr, 0, 0, off, errors.New("sip uri: no \"sip:\" on the line")
	}
	i += 4
	for j := i; j < eol; j++ {
		if b[j] == '@' {
			i = j + 1
			break
		}
	}
	addr, port, next, err = SIPHostPort(b[:eol], i)
	if err != nil {
		return netip.Addr{}, 0, 0, off, fmt.Errorf("sip uri: %w", err)
	}
	return addr, port, i, next, nil
}

// SIPHostPort parses host[:port] at off, the kernel's epaddr_len: the
// host a dotted quad or an IPv6 address in brackets, the port, when
// present, 1024..65535 (5060 when absent), as in a SIP URI or the sent-by
// of a Via header. It returns the address, the port and the offset after
// them.
func SIPHostPort(b []byte, off int) (addr netip.Addr, port uint16, next int, err error) {
	i := off
	if i < 0 || i > len(b) {
		return addr, 0, off, errors.New("host: position out of range")
	}
	if i < len(b) && b[i] == '[' {
		a, j, perr := ParseIPv6Text(b, i+1)
		if perr != nil || j >= len(b) || b[j] != ']' {
			return addr, 0, off, fmt.Errorf("bad IPv6 host at %d", i)
		}
		addr, i = a, j+1
	} else {
		a, j, perr := ParseIPv4Text(b, i)
		if perr != nil {
			return addr, 0, off, fmt.Errorf("host is not an address: %v", perr)
		}
		addr, i = a, j
	}
	port = 5060
	if i < len(b) && b[i] == ':' {
		p, j, _ := ParseUint(b, i+1)
		if p < 1024 || p > 65535 {
			return netip.Addr{}, 0, off, fmt.Errorf("%w, got %d", ErrSIPPort, p)
		}
		port, i = uint16(p), j
	}
	return addr, port, i, nil
}

// SIPParam finds the parameter name (e.g. "transport=", case-insensitive)
// in the header value at off, before the first ',' (the next value of a
// list) or the end of the header, folded lines included, like the
// kernel's ct_sip_parse_param. It returns the offsets of the parameter's
// value (up to ';', ',' or the line end); ok is false when it is absent.
func SIPParam(b []byte, off int, name string) (start, end int, ok bool) {
	if off < 0 || name == "" {
		return 0, 0, false
	}
	limit, _ := logicalLineEnd(b, min(off, len(b)))
	for i := off; i < limit; i++ {
		if b[i] == ',' {
			limit = i
			break
		}
	}
	for i := off; i+len(name) <= limit; i++ {
		if !hasPrefixFold(b, i, name) {
			continue
		}
		start = i + len(name)
		end = start
		for end < limit && b[end] != ';' && b[end] != '\r' && b[end] != '\n' {
			end++
		}
		return start, end, true
	}
	return 0, 0, false
}

// SDPLine finds the first SDP line "key=" (case-insensitive) that begins
// at or after off (but not at offset 0), like the kernel's ct_sip_get_sdp_header; when stop is not 0
// a line "stop=" that comes first ends the search (the first m= line ends
// the session description). It returns the offsets of the value (after
// "key=", up to the line end) and the offset after the line; ok is false
// when there is none.
func SDPLine(b []byte, off int, key, stop byte) (start, end, next int, ok bool) {
	for i := max(off, 1); i+2 <= len(b); i++ {
		if !lineStart(b, i) || b[i+1] != '=' {
			continue
		}
		switch lower(b[i]) {
		case lower(stop):
			if stop != 0 {
				return 0, 0, off, false
			}
		case lower(key):
		default:
			continue
		}
		if lower(b[i]) != lower(key) {
			continue
		}
		end = lineEnd(b, i+2)
		return i + 2, end, afterEOL(b, end), true
	}
	return 0, 0, off, false
}
