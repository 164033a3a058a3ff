package stdlib

import (
	"testing"

	"github.com/ctlua/ctlua/engine"
	lua "github.com/yuin/gopher-lua"
)

// BenchmarkSIPContact compares reading the address and port of the
// Contact header of an INVITE from Lua with the Go parsers
// (parse.sip_header, parse.sip_uri) and with string.find/string.match.
func BenchmarkSIPContact(b *testing.B) {
	cases := []struct{ name, src string }{
		{"go-parser-from-lua", `local parse = ...
return function(msg)
  local i = parse.sip_header(msg, 1, "Contact")
  local addr, port = parse.sip_uri(msg, i)
  return addr, port
end`},
		{"string.match-from-lua", `return function(msg)
  local lower = msg:lower()
  local at = lower:find("\r\ncontact%s*:") or lower:find("\r\nm%s*:")
  local host, port = msg:match("sip:[^@\r\n]*@?(%d+%.%d+%.%d+%.%d+):?(%d*)", at)
  return host, tonumber(port) or 5060
end`},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) { benchLua(b, c.src, sipInvite, "192.0.2.1", 5062) })
	}
}

// BenchmarkSDPMedia compares finding the first m= line's port and the
// session's c= address of an SDP body.
func BenchmarkSDPMedia(b *testing.B) {
	cases := []struct{ name, src string }{
		{"go-parser-from-lua", `local parse = ...
return function(msg)
  local v = parse.sdp_line(msg, 1, "v")
  local ci = parse.sdp_line(msg, v, "c", "m")
  local addr = parse.ipv4(msg, msg:find("IN IP4 ", ci, true) + 7)
  local mi = parse.sdp_line(msg, v, "m")
  return addr, (parse.uint(msg, mi + 6))
end`},
		{"string.match-from-lua", `return function(msg)
  local sdp = msg:find("\nv=")
  local addr = msg:match("\nc=IN IP4 (%d+%.%d+%.%d+%.%d+)", sdp)
  local port = msg:match("\nm=audio (%d+)", sdp)
  return addr, tonumber(port)
end`},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) { benchLua(b, c.src, sipInvite, "192.0.2.1", 40000) })
	}
}

// benchLua loads src (a chunk returning a function of the message, given
// the parse module), checks it returns wantAddr, wantPort on msg, and
// measures its calls.
func benchLua(b *testing.B, src, msg, wantAddr string, wantPort int) {
	L := lua.NewState()
	defer L.Close()
	mod := Modules()[0].Open(L, &engine.Session{})
	fn, err := L.LoadString(src)
	if err != nil {
		b.Fatal(err)
	}
	L.Push(fn)
	L.Push(mod)
	L.Call(1, 1)
	f := L.Get(-1).(*lua.LFunction)
	L.Pop(1)
	arg := lua.LString(msg)
	L.Push(f)
	L.Push(arg)
	L.Call(1, 2)
	if L.Get(-2).String() != wantAddr || L.Get(-1) != lua.LNumber(wantPort) {
		b.Fatalf("got %v %v, want %s %d", L.Get(-2), L.Get(-1), wantAddr, wantPort)
	}
	L.Pop(2)
	b.ReportAllocs()
	for b.Loop() {
		L.Push(f)
		L.Push(arg)
		L.Call(1, 2)
		L.Pop(2)
	}
}
