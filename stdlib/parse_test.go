package stdlib

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
)

func TestParsePortPair(t *testing.T) {
	tests := []struct {
		name, in string
		off      int
		addr     string
		port     uint16
		next     int
		err      string
	}{
		{"PORT", "PORT 192,168,1,2,4,1\r\n", 5, "192.168.1.2", 1025, 20, ""},
		{"227 body", "(192,0,2,2,195,149).", 1, "192.0.2.2", 50069, 18, ""},
		{"zeros", "0,0,0,0,0,0", 0, "0.0.0.0", 0, 11, ""},
		{"max", "255,255,255,255,255,255", 0, "255.255.255.255", 65535, 23, ""},
		{"number over 255", "192,168,1,300,4,1", 0, "", 0, 0, "number 4 is 300, must be 0..255"},
		{"five numbers", "192,168,1,2,4\r\n", 0, "", 0, 0, "want ','"},
		{"cut short", "192,168,1,2,4", 0, "", 0, 0, "incomplete"},
		{"cut after comma", "192,168,", 0, "", 0, 0, "incomplete"},
		{"space", "192, 168,1,2,4,1", 0, "", 0, 0, "number 2 missing"},
		{"empty", "", 0, "", 0, 0, "incomplete"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, p, next, err := ParsePortPair([]byte(tt.in), tt.off)
			if tt.err != "" {
				if err == nil || !contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || a.String() != tt.addr || p != tt.port || next != tt.next {
				t.Fatalf("got %v %d %d %v, want %s %d %d", a, p, next, err, tt.addr, tt.port, tt.next)
			}
		})
	}
}

func TestParseEPRT(t *testing.T) {
	tests := []struct {
		name, in string
		addr     string
		port     uint16
		af       int
		err      bool
	}{
		{"ipv4", "|1|132.235.1.2|6275|", "132.235.1.2", 6275, 1, false},
		{"ipv6", "|2|1080::8:800:200C:417A|5282|", "1080::8:800:200c:417a", 5282, 2, false},
		{"ipv6 loopback", "|2|::1|21|", "::1", 21, 2, false},
		{"other delimiter", "!1!10.0.0.1!80!", "10.0.0.1", 80, 1, false},
		{"family mismatch", "|1|::1|21|", "", 0, 0, true},
		{"family 3", "|3|x|1|", "", 0, 0, true},
		{"port too big", "|1|10.0.0.1|65536|", "", 0, 0, true},
		{"no final delimiter", "|1|10.0.0.1|80", "", 0, 0, true},
		{"digit delimiter", "1110.0.0.11801", "", 0, 0, true},
		{"ipv4 octet too big", "|1|10.0.0.256|80|", "", 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, p, af, next, err := ParseEPRT([]byte(tt.in), 0)
			if tt.err {
				if err == nil {
					t.Fatalf("parsed %v %d", a, p)
				}
				return
			}
			if err != nil || a.String() != tt.addr || p != tt.port || af != tt.af || next != len(tt.in) {
				t.Fatalf("got %v %d af %d next %d err %v", a, p, af, next, err)
			}
		})
	}
}

func TestParseEPSV(t *testing.T) {
	for in, want := range map[string]int{"|||6446|": 6446, "(|||21|)": -1, "!!!1!": 1, "|||65535|": 65535, "|||65536|": -1, "||6446|": -1, "|||6446": -1} {
		p, next, err := ParseEPSV([]byte(in), 0)
		if want < 0 {
			if err == nil {
				t.Errorf("%q: parsed %d", in, p)
			}
			continue
		}
		if err != nil || int(p) != want || next != len(in) {
			t.Errorf("%q: got %d next %d err %v", in, p, next, err)
		}
	}
}

func TestSmallParsers(t *testing.T) {
	if v, next, ok := ParseUint([]byte("x123y"), 1); !ok || v != 123 || next != 4 {
		t.Errorf("ParseUint = %d %d %v", v, next, ok)
	}
	if _, _, ok := ParseUint([]byte("99999999999999999999"), 0); ok {
		t.Error("ParseUint accepted a number over 2^53")
	}
	if i, ok := SkipToDigit([]byte("227 Entering Passive Mode (1,2"), 4); !ok || i != 27 {
		t.Errorf("SkipToDigit = %d %v", i, ok)
	}
	if a, next, err := ParseIPv4Text([]byte("10.1.2.3)"), 0); err != nil || a.String() != "10.1.2.3" || next != 8 {
		t.Errorf("ParseIPv4Text = %v %d %v", a, next, err)
	}
	if a, next, err := ParseIPv6Text([]byte("2001:db8::1]:21"), 0); err != nil || a.String() != "2001:db8::1" || next != 11 {
		t.Errorf("ParseIPv6Text = %v %d %v", a, next, err)
	}
	if a, err := ParseIP([]byte{0, 192, 0, 2, 1}, 1, 4); err != nil || a.String() != "192.0.2.1" {
		t.Errorf("ParseIP = %v %v", a, err)
	}
	if _, err := ParseIP([]byte{1, 2}, 0, 4); !errors.Is(err, ErrIncomplete) {
		t.Errorf("ParseIP short: %v", err)
	}
	k, v, next, err := ParseHeader([]byte("Call-ID : abc \r\nTo: x\r\n"), 0)
	if err != nil || string(k) != "Call-ID" || string(v) != "abc" || next != 16 {
		t.Errorf("ParseHeader = %q %q %d %v", k, v, next, err)
	}
	if _, _, _, err := ParseHeader([]byte("To: x"), 0); !errors.Is(err, ErrIncomplete) {
		t.Errorf("unterminated header: %v", err)
	}
	if _, _, _, err := ParseHeader([]byte("garbage\r\n"), 0); err == nil || errors.Is(err, ErrIncomplete) {
		t.Errorf("header without colon: %v", err)
	}
	if l, next, ok := Line([]byte("a\r\nb"), 0); !ok || string(l) != "a" || next != 3 {
		t.Errorf("Line = %q %d %v", l, next, ok)
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && indexOf(s, sub) >= 0)
}
func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func FuzzParsePortPair(f *testing.F) {
	f.Add([]byte("192,168,1,2,4,1"), 0)
	f.Fuzz(func(t *testing.T, b []byte, off int) {
		if off < 0 || off > len(b) {
			return
		}
		a, p, next, err := ParsePortPair(b, off)
		if err != nil {
			return
		}
		if next <= off || next > len(b) {
			t.Fatalf("next %d outside (%d, %d]", next, off, len(b))
		}
		x := a.As4()
		s := fmt.Sprintf("%d,%d,%d,%d,%d,%d", x[0], x[1], x[2], x[3], p>>8, p&0xff)
		a2, p2, _, err := ParsePortPair([]byte(s), 0)
		if err != nil || a2 != a || p2 != p {
			t.Fatalf("round trip %q: %v %d %v", s, a2, p2, err)
		}
	})
}

func FuzzParseEPRT(f *testing.F) {
	f.Add([]byte("|1|132.235.1.2|6275|"))
	f.Add([]byte("|2|::1|21|"))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, p, af, next, err := ParseEPRT(b, 0)
		if err != nil {
			return
		}
		if next <= 0 || next > len(b) || (af == 1) != a.Is4() {
			t.Fatalf("next %d af %d addr %v", next, af, a)
		}
		s := fmt.Sprintf("|%d|%s|%d|", af, a, p)
		a2, p2, _, _, err := ParseEPRT([]byte(s), 0)
		if err != nil || a2 != a || p2 != p {
			t.Fatalf("round trip %q: %v %d %v", s, a2, p2, err)
		}
	})
}

func FuzzParseEPSV(f *testing.F) {
	f.Add([]byte("|||6446|"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, next, err := ParseEPSV(b, 0)
		if err != nil {
			return
		}
		if next <= 0 || next > len(b) {
			t.Fatalf("next %d", next)
		}
		if p2, _, err := ParseEPSV([]byte(fmt.Sprintf("|||%d|", p)), 0); err != nil || p2 != p {
			t.Fatalf("round trip %d: %d %v", p, p2, err)
		}
	})
}

func FuzzParseIPText(f *testing.F) {
	f.Add([]byte("10.0.0.1"))
	f.Add([]byte("2001:db8::1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, parse := range []func([]byte, int) (netip.Addr, int, error){ParseIPv4Text, ParseIPv6Text} {
			a, next, err := parse(b, 0)
			if err != nil {
				continue
			}
			if next <= 0 || next > len(b) {
				t.Fatalf("next %d", next)
			}
			if a2, _, err := parse([]byte(a.String()), 0); err != nil || a2 != a {
				t.Fatalf("round trip %v: %v %v", a, a2, err)
			}
		}
	})
}

func FuzzParseHeader(f *testing.F) {
	f.Add([]byte("Via: SIP/2.0/UDP x\r\n"), 0)
	f.Fuzz(func(t *testing.T, b []byte, off int) {
		if off < 0 || off > len(b) {
			return
		}
		if _, _, next, err := ParseHeader(b, off); err == nil && (next <= off || next > len(b)) {
			t.Fatalf("next %d", next)
		}
		SkipToDigit(b, off)
		ParseUint(b, off)
		Line(b, off)
	})
}
