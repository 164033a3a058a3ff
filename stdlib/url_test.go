package stdlib

import (
	"net/netip"
	"strings"
	"testing"
)

// addrPortCase is a case of a parser that returns an address, a port,
// the offset of the address text and the offset after what it read.
type addrPortCase struct {
	name, in string
	off      int
	addr     string
	port     uint16
	at, next int
	err      string // a part of the error; "" when it must parse
}

// testAddrPort runs the cases through parse.
func testAddrPort(t *testing.T, parse func([]byte, int) (netip.Addr, uint16, int, int, error), tests []addrPortCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, p, at, next, err := parse([]byte(tt.in), tt.off)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || a.String() != tt.addr || p != tt.port || at != tt.at || next != tt.next {
				t.Fatalf("got %v %d %d %d %v, want %s %d %d %d", a, p, at, next, err, tt.addr, tt.port, tt.at, tt.next)
			}
		})
	}
}

func TestParseHTTPURL(t *testing.T) {
	testAddrPort(t, ParseHTTPURL, []addrPortCase{
		{"port", "http://192.0.2.2:5000/rootDesc.xml", 0, "192.0.2.2", 5000, 7, 21, ""},
		{"no port", "http://192.0.2.9/desc.xml", 0, "192.0.2.9", 80, 7, 16, ""},
		{"no path", "http://192.0.2.9", 0, "192.0.2.9", 80, 7, 16, ""},
		{"scheme in any case", "HTTP://192.0.2.2:1/", 0, "192.0.2.2", 1, 7, 18, ""},
		{"ipv6", "http://[fe80::2]:49152/d.xml", 0, "fe80::2", 49152, 8, 22, ""},
		{"ipv6 no port", "http://[2001:db8::2]/", 0, "2001:db8::2", 80, 8, 20, ""},
		{"offset", "<http://192.0.2.1:8000/>", 1, "192.0.2.1", 8000, 8, 22, ""},
		{"https", "https://192.0.2.2/", 0, "", 0, 0, 0, "want \"http://\""},
		{"host name", "http://device.local:5000/", 0, "", 0, 0, 0, "want an address"},
		{"name after digits", "http://1.2.3.4.example/", 0, "", 0, 0, 0, "a name"},
		{"port 0", "http://192.0.2.2:0/", 0, "", 0, 0, 0, "1..65535"},
		{"port too big", "http://192.0.2.2:70000/", 0, "", 0, 0, 0, "1..65535"},
		{"port not a number", "http://192.0.2.2:x/", 0, "", 0, 0, 0, "1..65535"},
		{"octet too big", "http://300.0.2.2/", 0, "", 0, 0, 0, "0..255"},
		{"unclosed bracket", "http://[fe80::2/", 0, "", 0, 0, 0, "want \"]\""},
		{"short", "http:/", 0, "", 0, 0, 0, "want \"http://\""},
		{"offset past the end", "http://1.2.3.4", 20, "", 0, 0, 0, "want \"http://\""},
	})
}

// FuzzParseHTTPURL: never panics, and on success the host text lies in
// the input after the scheme, the port is not 0, and the text parsed
// again from the same offset gives the same result.
func FuzzParseHTTPURL(f *testing.F) {
	f.Add([]byte("http://192.0.2.2:5000/rootDesc.xml"), 0)
	f.Add([]byte("<http://[fe80::1]:8000/>"), 1)
	f.Fuzz(func(t *testing.T, b []byte, off int) {
		a, p, at, next, err := ParseHTTPURL(b, off)
		if err != nil {
			return
		}
		if at < off+7 || next < at || next > len(b) || p == 0 || !a.IsValid() {
			t.Fatalf("addr %v port %d at %d next %d off %d len %d", a, p, at, next, off, len(b))
		}
		a2, p2, at2, next2, err2 := ParseHTTPURL(b[:next], off)
		if err2 != nil || a2 != a || p2 != p || at2 != at || next2 != next {
			t.Fatalf("the parsed prefix %q parses differently: %v %d %d %d %v", b[off:next], a2, p2, at2, next2, err2)
		}
	})
}
