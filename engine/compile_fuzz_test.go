package engine

import (
	"strings"
	"testing"
)

// FuzzCompile: compiling any input ends in a prototype or an error, never
// a crash (the bounds in compile.go).
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		"return {}", "local x = {{{{}}}}", "if a then elseif b then else end",
		"return " + strings.Repeat("{", 300) + strings.Repeat("}", 300),
		"return " + strings.Repeat("not ", 300) + "x", "local function f() return f() end",
		"x = 'a'" + strings.Repeat("..'a'", 300), "goto l ::l::", "return [[" + strings.Repeat("]", 10),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		proto, _, err := compile("fuzz.lua", src)
		if (proto == nil) == (err == nil) {
			t.Fatalf("compile returned proto %v and error %v", proto != nil, err)
		}
	})
}
