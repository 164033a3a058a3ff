package stdlib

import (
	"errors"
	"strings"
	"testing"
)

const sipInvite = "INVITE sip:bob@192.0.2.2 SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport\r\n" +
	"f: <sip:alice@192.0.2.1>;tag=1\r\n" +
	"To: <sip:bob@192.0.2.2>\r\n" +
	"Call-ID: 1@192.0.2.1\r\n" +
	"CSeq : 1 INVITE\r\n" +
	"Contact:\r\n <sip:alice@192.0.2.1:5062;transport=udp>;expires=60, <sip:a@[2001:db8::1]>\r\n" +
	"Expires: 300\r\n" +
	"Content-Type: application/sdp\r\n" +
	"l: 100\r\n" +
	"\r\n" +
	"v=0\r\n" +
	"o=- 1 1 IN IP4 192.0.2.1\r\n" +
	"c=IN IP4 192.0.2.1\r\n" +
	"m=audio 40000 RTP/AVP 0\r\n" +
	"c=IN IP4 192.0.2.9\r\n" +
	"m=video 40002 RTP/AVP 31\n" +
	"Contact: <sip:body@192.0.2.7>\r\n"

func TestSIPHeader(t *testing.T) {
	tests := []struct {
		name, hdr string
		off       int
		value     string
		ok        bool
	}{
		{"full name", "Call-ID", 0, "1@192.0.2.1", true},
		{"case-insensitive", "call-id", 0, "1@192.0.2.1", true},
		{"compact form", "From", 0, "<sip:alice@192.0.2.1>;tag=1", true},
		{"full name of a compact line", "content-length", 0, "100", true},
		{"space before the colon", "CSeq", 0, "1 INVITE", true},
		{"folded value", "Contact", 0, "<sip:alice@192.0.2.1:5062;transport=udp>;expires=60, <sip:a@[2001:db8::1]>", true},
		{"not in the body", "Subject", 0, "", false},
		{"headers end at the empty line", "Contact", strings.Index(sipInvite, "Expires"), "", false},
		{"to is not To-something", "T", 0, "", false},
		{"start line is no header", "INVITE sip", 0, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := []byte(sipInvite)
			s, e, next, ok := SIPHeader(b, tt.off, tt.hdr)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			if got := string(b[s:e]); got != tt.value {
				t.Errorf("value %q, want %q", got, tt.value)
			}
			if next <= e || !lineStart(b, next) {
				t.Errorf("next %d does not start the line after the header (value ends at %d)", next, e)
			}
		})
	}
}

func TestSIPHeaderChains(t *testing.T) {
	msg := []byte("SIP/2.0 200 OK\r\nContact: <sip:a@192.0.2.1>\r\nm: <sip:b@192.0.2.1>\r\n\r\n")
	var got []string
	for off := 0; ; {
		s, e, next, ok := SIPHeader(msg, off, "contact")
		if !ok {
			break
		}
		got = append(got, string(msg[s:e]))
		off = next
	}
	if strings.Join(got, "|") != "<sip:a@192.0.2.1>|<sip:b@192.0.2.1>" {
		t.Fatalf("got %q", got)
	}
}

func TestSIPURI(t *testing.T) {
	tests := []struct {
		name, in string
		addr     string
		port     uint16
		host     string
		err      string
	}{
		{"user and port", "<sip:alice@192.0.2.1:5062;transport=udp>", "192.0.2.1", 5062, "192.0.2.1:5062", ""},
		{"default port", "<SIP:bob@192.0.2.2>", "192.0.2.2", 5060, "192.0.2.2", ""},
		{"no user", "sip:192.0.2.3:6000", "192.0.2.3", 6000, "192.0.2.3:6000", ""},
		{"ipv6", "<sip:a@[2001:db8::1]:5070>", "2001:db8::1", 5070, "[2001:db8::1]:5070", ""},
		{"low port", "sip:a@192.0.2.1:80", "", 0, "", "1024..65535"},
		{"port too big", "sip:a@192.0.2.1:70000", "", 0, "", "1024..65535"},
		{"host name", "sip:a@example.com", "", 0, "", "not an address"},
		{"sips is not sip", "sips:a@192.0.2.1", "", 0, "", "no \"sip:\""},
		{"only on this line", "x\r\nsip:a@192.0.2.1", "", 0, "", "no \"sip:\""},
		{"unclosed bracket", "sip:[2001:db8::1", "", 0, "", "bad IPv6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := []byte(tt.in)
			a, p, s, next, err := SIPURI(b, 0)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				if strings.Contains(tt.err, "1024") && !errors.Is(err, ErrSIPPort) {
					t.Errorf("err %v does not wrap ErrSIPPort", err)
				}
				return
			}
			if err != nil || a.String() != tt.addr || p != tt.port || string(b[s:next]) != tt.host {
				t.Fatalf("got %v %d %q %v, want %s %d %q", a, p, b[s:next], err, tt.addr, tt.port, tt.host)
			}
		})
	}
}

func TestSIPParam(t *testing.T) {
	tests := []struct {
		name, in, param, value string
		ok                     bool
	}{
		{"in the uri", "<sip:a@192.0.2.1;transport=TCP>;expires=60", "transport=", "TCP>", true},
		{"after the uri", "<sip:a@192.0.2.1>;expires=60;q=1", "expires=", "60", true},
		{"case-insensitive", "<sip:a@192.0.2.1>;EXPIRES=0", "expires=", "0", true},
		{"not after the comma", "<sip:a@192.0.2.1>, <sip:b@192.0.2.1>;expires=5", "expires=", "", false},
		{"not on the next header", "<sip:a@192.0.2.1>\r\nExpires: 1;expires=5", "expires=", "", false},
		{"folded", "<sip:a@192.0.2.1>\r\n ;expires=7\r\n", "expires=", "7", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := []byte(tt.in)
			s, e, ok := SIPParam(b, 0, tt.param)
			if ok != tt.ok || (ok && string(b[s:e]) != tt.value) {
				t.Fatalf("got %v %q, want %v %q", ok, b[s:e], tt.ok, tt.value)
			}
		})
	}
}

func TestSDPLine(t *testing.T) {
	b := []byte(sipInvite)
	body := strings.Index(sipInvite, "\r\n\r\n")
	tests := []struct {
		name      string
		off       int
		key, stop byte
		value     string
		ok        bool
	}{
		{"version", 0, 'v', 0, "0", true},
		{"session connection", body, 'c', 'm', "IN IP4 192.0.2.1", true},
		{"first media", body, 'm', 0, "audio 40000 RTP/AVP 0", true},
		{"media connection", strings.Index(sipInvite, "audio"), 'c', 'm', "IN IP4 192.0.2.9", true},
		{"stopped by the next media", strings.Index(sipInvite, "video"), 'c', 'm', "", false},
		{"bare newline ends a line", strings.Index(sipInvite, "video"), 'C', 0, "", false},
		{"none", 0, 'z', 0, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, e, next, ok := SDPLine(b, tt.off, tt.key, tt.stop)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if ok && (string(b[s:e]) != tt.value || next <= e) {
				t.Fatalf("got %q next %d, want %q", b[s:e], next, tt.value)
			}
		})
	}
}

func FuzzSIPHeader(f *testing.F) {
	f.Add([]byte(sipInvite), 0, "contact")
	f.Add([]byte("A\r\nm :\r\n x\r\n"), 1, "Contact")
	f.Fuzz(func(t *testing.T, b []byte, off int, name string) {
		s, e, next, ok := SIPHeader(b, off, name)
		if ok && (s < 0 || s > e || e > len(b) || next < e || next > len(b)) {
			t.Fatalf("bad offsets %d %d %d (len %d)", s, e, next, len(b))
		}
		if ok {
			SIPParam(b, s, "expires=")
			SIPURI(b, s)
		}
	})
}

func FuzzSIPURI(f *testing.F) {
	f.Add([]byte("<sip:a@[2001:db8::1]:5070>"), 0)
	f.Add([]byte("sip:192.0.2.1:1"), 0)
	f.Fuzz(func(t *testing.T, b []byte, off int) {
		a, _, s, next, err := SIPURI(b, off)
		if err == nil && (!a.IsValid() || s < 0 || s >= next || next > len(b)) {
			t.Fatalf("bad result %v %d %d (len %d)", a, s, next, len(b))
		}
	})
}

func FuzzSIPParam(f *testing.F) {
	f.Add([]byte("<sip:a@x;transport=tcp>;expires=1"), 0, "expires=")
	f.Fuzz(func(t *testing.T, b []byte, off int, name string) {
		s, e, ok := SIPParam(b, off, name)
		if ok && (s < off || s > e || e > len(b)) {
			t.Fatalf("bad offsets %d %d (len %d)", s, e, len(b))
		}
	})
}

func FuzzSDPLine(f *testing.F) {
	f.Add([]byte(sipInvite), 0, byte('c'), byte('m'))
	f.Fuzz(func(t *testing.T, b []byte, off int, key, stop byte) {
		s, e, next, ok := SDPLine(b, off, key, stop)
		if ok && (s < 2 || s > e || e > len(b) || next < e || next > len(b)) {
			t.Fatalf("bad offsets %d %d %d (len %d)", s, e, next, len(b))
		}
	})
}

func TestSIPHostPort(t *testing.T) {
	tests := []struct {
		in, addr string
		port     uint16
		next     int
		err      bool
	}{
		{"192.0.2.1:5062;branch=x", "192.0.2.1", 5062, 14, false},
		{"192.0.2.1;rport", "192.0.2.1", 5060, 9, false},
		{"[2001:db8::1]:5070", "2001:db8::1", 5070, 18, false},
		{"2001:db8::1", "", 0, 0, true},
		{"host.example:5060", "", 0, 0, true},
		{"192.0.2.1:99", "", 0, 0, true},
	}
	for _, tt := range tests {
		a, p, next, err := SIPHostPort([]byte(tt.in), 0)
		if (err != nil) != tt.err || (!tt.err && (a.String() != tt.addr || p != tt.port || next != tt.next)) {
			t.Errorf("%q: got %v %d %d %v", tt.in, a, p, next, err)
		}
	}
}

func FuzzSIPHostPort(f *testing.F) {
	f.Add([]byte("[2001:db8::1]:5070"), 0)
	f.Fuzz(func(t *testing.T, b []byte, off int) {
		a, _, next, err := SIPHostPort(b, off)
		if err == nil && (!a.IsValid() || next <= off || next > len(b)) {
			t.Fatalf("bad result %v %d (len %d)", a, next, len(b))
		}
	})
}
