package stdlib

import (
	"testing"

	"github.com/ctlua/ctlua/engine"
	lua "github.com/yuin/gopher-lua"
)

// BenchmarkPortLine compares extracting the address and port of an FTP
// PORT line from Lua with the Go parser and with string.match.
func BenchmarkPortLine(b *testing.B) {
	const line = "PORT 192,168,1,2,195,80\r\n"
	cases := []struct{ name, src string }{
		{"go-parser-from-lua", `local parse = ...
return function(line)
  local addr, port = parse.port_pair(line, 6)
  return addr, port
end`},
		{"string.match-from-lua", `return function(line)
  local a, b, c, d, p1, p2 = string.match(line, "^PORT (%d+),(%d+),(%d+),(%d+),(%d+),(%d+)")
  local addr = a .. "." .. b .. "." .. c .. "." .. d
  local port = tonumber(p1) * 256 + tonumber(p2)
  return addr, port
end`},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			L := lua.NewState()
			defer L.Close()
			mod := Modules()[0].Open(L, &engine.Session{})
			fn, err := L.LoadString(c.src)
			if err != nil {
				b.Fatal(err)
			}
			L.Push(fn)
			L.Push(mod)
			L.Call(1, 1)
			f := L.Get(-1).(*lua.LFunction)
			L.Pop(1)
			arg := lua.LString(line)
			check := func() {
				L.Push(f)
				L.Push(arg)
				L.Call(1, 2)
				if L.Get(-2).String() != "192.168.1.2" || L.Get(-1).(lua.LNumber) != 50000 {
					b.Fatalf("got %v %v", L.Get(-2), L.Get(-1))
				}
				L.Pop(2)
			}
			check()
			b.ReportAllocs()
			for b.Loop() {
				L.Push(f)
				L.Push(arg)
				L.Call(1, 2)
				L.Pop(2)
			}
		})
	}
}

// BenchmarkParsePortPair is the Go parser alone.
func BenchmarkParsePortPair(b *testing.B) {
	line := []byte("PORT 192,168,1,2,195,80\r\n")
	b.ReportAllocs()
	for b.Loop() {
		if _, p, _, err := ParsePortPair(line, 5); err != nil || p != 50000 {
			b.Fatal(p, err)
		}
	}
}
