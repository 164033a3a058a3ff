package bindings

import (
	"bytes"
	"testing"

	lua "github.com/yuin/gopher-lua"
)

// luaSub is string.sub of gopher-lua, the behaviour pkt:sub must have.
func luaSub(L *lua.LState, s string, i, j int) string {
	L.Push(L.GetField(L.GetGlobal("string"), "sub"))
	L.Push(lua.LString(s))
	L.Push(lua.LNumber(i))
	L.Push(lua.LNumber(j))
	L.Call(3, 1)
	defer L.Pop(1)
	return L.Get(-1).String()
}

// FuzzSubRange: SubRange (pkt:sub, nat.replace's range) cuts exactly
// what string.sub cuts, and Offset (init arguments) agrees with it.
func FuzzSubRange(f *testing.F) {
	for _, c := range []struct {
		s    string
		i, j int
	}{{"Hello", 1, 5}, {"Hello", -3, -1}, {"Hello", 0, 2}, {"Hello", 4, 2}, {"", 1, -1}, {"ab", 3, 9}, {"abc", -9, 9}} {
		f.Add(c.s, c.i, c.j)
	}
	L := lua.NewState()
	defer L.Close()
	f.Fuzz(func(t *testing.T, s string, i, j int) {
		if i < -1<<20 || i > 1<<20 || j < -1<<20 || j > 1<<20 {
			return
		}
		lo, hi := SubRange(len(s), i, j)
		if lo < 0 || hi > len(s) || lo > hi {
			t.Fatalf("SubRange(%d, %d, %d) = [%d, %d)", len(s), i, j, lo, hi)
		}
		if got, want := s[lo:hi], luaSub(L, s, i, j); got != want {
			t.Fatalf("sub(%q, %d, %d) = %q, string.sub gives %q", s, i, j, got, want)
		}
		if off := Offset(len(s), i); i != 0 && off >= 0 && off < len(s) {
			if lo2, _ := SubRange(len(s), i, -1); lo2 != off {
				t.Fatalf("Offset(%d, %d) = %d, SubRange starts at %d", len(s), i, off, lo2)
			}
		}
	})
}

// FuzzLineAt: the line and next position of LineAt always cover the
// bytes up to the "\n" and never leave the slice.
func FuzzLineAt(f *testing.F) {
	f.Add([]byte("a\r\nb\n"), 0)
	f.Add([]byte("abc"), 1)
	f.Fuzz(func(t *testing.T, b []byte, off int) {
		line, next, ok := LineAt(b, off)
		if !ok {
			return
		}
		if next <= off || next > len(b) || b[next-1] != '\n' || !bytes.HasPrefix(b[off:], line) || bytes.IndexByte(line, '\n') >= 0 {
			t.Fatalf("LineAt(%q, %d) = %q, %d", b, off, line, next)
		}
	})
}
