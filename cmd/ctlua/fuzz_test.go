package main

import (
	"strings"
	"testing"
)

// FuzzLint: the lint never panics, and every finding has a position.
func FuzzLint(f *testing.F) {
	for _, s := range []string{
		"local x = require('ctlua.log')\nreturn {}",
		"function f(a) return a.b:c(d) end\nrepeat local z until z\nfor i = 1, 2 do g = i end",
		"local t = {[1] = x, y = function(...) return ... end}\nwhile t do break end",
	} {
		f.Add(s)
	}
	members := lintMembers()
	f.Fuzz(func(t *testing.T, src string) {
		found, err := lint("f.lua", []byte(src), members)
		if err != nil {
			return
		}
		for _, x := range found {
			if x.line < 1 || x.col < 1 || x.msg == "" {
				t.Fatalf("finding %+v in %q", x, src)
			}
		}
	})
}

// FuzzSplitText: the first line and the rest shown under a packet are
// the payload's text, in order.
func FuzzSplitText(f *testing.F) {
	f.Add([]byte("USER a\r\nPASS b\r\n"))
	f.Add([]byte("\x00\x01binary"))
	f.Add([]byte(strings.Repeat("x", 40) + "\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		first, rest := splitText(b)
		if !isText(b) {
			if rest != nil || len(first) > 34 {
				t.Fatalf("binary %q: %q %q", b, first, rest)
			}
			return
		}
		joined := strings.Join(rest, "")
		if len(first) <= 32 && !strings.HasPrefix(string(b), first) {
			t.Fatalf("%q: first %q", b, first)
		}
		if !strings.HasSuffix(string(b), joined) {
			t.Fatalf("%q: rest %q", b, rest)
		}
	})
}

// FuzzFilter: --packets never yields a range that ends before it starts.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{"1-5", "3-", "-7", "4", "x", "5-1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fl, err := newFilter(0, 0, s)
		if err == nil && (fl.from < 0 || fl.to < 0 || (fl.to > 0 && fl.to < fl.from)) {
			t.Fatalf("%q: %+v", s, fl)
		}
	})
}
