package stdlib

import "testing"

func TestParseDCC(t *testing.T) {
	testAddrPort(t, ParseDCC, []addrPortCase{
		{"send", "file.txt 3221225985 5000 300\x01\r\n", 0, "192.0.2.1", 5000, 9, 24, ""},
		{"chat", "chat 3221225985 40001\x01\n", 0, "192.0.2.1", 40001, 5, 21, ""},
		{"spaces between", "f 3221225985    7\x01\n", 0, "192.0.2.1", 7, 2, 17, ""},
		{"offset", "xxSEND f 1 2 ......\n", 7, "0.0.0.1", 2, 9, 12, ""},
		{"no digits is 0.0.0.0", "f abc 5000 .....\x01\n", 0, "0.0.0.0", 0, 2, 2, ""},
		{"port 0 parses", "f 3221225985 0 ....\n", 0, "192.0.2.1", 0, 2, 14, ""},
		{"address wraps at 2^32", "f 4294967297 5 ......\n", 0, "0.0.0.1", 5, 2, 14, ""},
		{"port over 65535", "f 3221225985 65536 ...\n", 0, "", 0, 0, 0, "port over 65535"},
		{"no newline", "f 3221225985 5000 300\x01", 0, "", 0, 0, 0, "no newline"},
		{"no space", "filenamewithoutspace\n", 0, "", 0, 0, 0, "no space"},
		{"under 12 bytes after the name", "f 1 2\x01\r\n", 0, "", 0, 0, 0, "no space"},
		{"empty", "", 0, "", 0, 0, 0, "no argument"},
	})
}

// FuzzParseDCC: never panics, and on success the address text lies in
// the input after off and holds only digits and spaces.
func FuzzParseDCC(f *testing.F) {
	f.Add([]byte("file 3221225985 5000 300\x01\r\n"), 0)
	f.Add([]byte("chat 1 1 .........\n"), 0)
	f.Fuzz(func(t *testing.T, b []byte, off int) {
		_, _, at, next, err := ParseDCC(b, off)
		if err != nil {
			return
		}
		if at <= off || next < at || next > len(b) {
			t.Fatalf("at %d next %d off %d len %d", at, next, off, len(b))
		}
		for _, c := range b[at:next] {
			if c != ' ' && (c < '0' || c > '9') {
				t.Fatalf("address text %q", b[at:next])
			}
		}
	})
}
