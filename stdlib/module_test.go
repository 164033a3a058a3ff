package stdlib

import (
	"testing"

	"github.com/ctlua/ctlua/engine"
	lua "github.com/yuin/gopher-lua"
)

func TestParseModule(t *testing.T) {
	L := lua.NewState()
	defer L.Close()
	L.SetGlobal("parse", Modules()[0].Open(L, &engine.Session{}))
	err := L.DoString(`
local function eq(got, want, what) if got ~= want then error(what .. ": got " .. tostring(got) .. ", want " .. tostring(want), 2) end end
local src = "PORT 10,0,0,1,4,1\r\n"
local a, p, n = parse.port_pair(src, 6)
eq(a, "10.0.0.1", "addr"); eq(p, 1025, "port"); eq(n, 18, "next"); eq(src:sub(6, n - 1), "10,0,0,1,4,1", "sub")
local x, err = parse.port_pair("PORT 10,0,0,300,4,1\r\n", 6)
eq(x, nil, "bad pair"); eq(err, "port pair: number 4 is 300, must be 0..255", "err")
x, err = parse.port_pair("10,0", 1)
eq(err, "incomplete", "incomplete")
local a6, p6, af, n6 = parse.eprt("EPRT |2|2001:db8::1|50002|\r\n", 6)
eq(a6, "2001:db8::1", "eprt addr"); eq(p6, 50002, "eprt port"); eq(af, 2, "af"); eq(n6, 27, "eprt next")
eq(parse.epsv("(|||6446|)", 2), 6446, "epsv")
eq(parse.skip_to_digit("227 Entering (1,2", 5), 15, "skip")
eq(parse.skip_to_digit("227 none", 5), nil, "no digit")
eq(parse.uint("abc 42", 5), 42, "uint")
eq(select(2, parse.uint("abc 42", 5)), 7, "uint next")
eq(parse.ipv4("1.2.3.4:5"), "1.2.3.4", "ipv4")
eq(parse.ipv6("[::1]", 2), "::1", "ipv6")
eq(select(2, parse.ipv6("[::1]", 2)), 5, "ipv6 next")
eq(parse.ip_bytes("\192\0\2\1", 1, 4), "192.0.2.1", "ip_bytes")
eq(select(2, parse.ip_bytes("x\192\0\2\1", 2, 4)), 6, "ip_bytes next")
local k, v, hn = parse.header("Via: SIP/2.0/UDP h\r\n")
eq(k, "Via"); eq(v, "SIP/2.0/UDP h"); eq(hn, 21)
eq(select(2, parse.header("Via: x")), "incomplete", "header incomplete")
eq(parse.line("a\r\nb"), "a", "line")
eq(select(2, parse.line("a\r\nb")), 4, "line next")
eq(parse.line("ab"), nil, "no line")
`)
	if err != nil {
		t.Fatal(err)
	}
	if err := L.DoString(`parse.uint("x", 0)`); err == nil {
		t.Error("position 0 did not raise")
	}
	if err := L.DoString(`parse.uint({}, 0)`); err == nil {
		t.Error("a table as source did not raise")
	}
}
