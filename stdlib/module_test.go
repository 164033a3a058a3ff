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

// TestSIPModule checks the SIP parsers' 1-based positions from Lua: each
// result feeds string.sub and the next parser unchanged.
func TestSIPModule(t *testing.T) {
	L := lua.NewState()
	defer L.Close()
	L.SetGlobal("parse", Modules()[0].Open(L, &engine.Session{}))
	err := L.DoString(`
local function eq(got, want, what) if got ~= want then error(what .. ": got " .. tostring(got) .. ", want " .. tostring(want), 2) end end
local m = "REGISTER sip:192.0.2.2 SIP/2.0\r\nm: <sip:a@192.0.2.1:5070;transport=udp>;expires=60\r\nVia: SIP/2.0/UDP [2001:db8::1]:5062\r\n\r\nv=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 0\r\n"
local i, j, n = parse.sip_header(m, 1, "Contact")
eq(m:sub(i, j), "<sip:a@192.0.2.1:5070;transport=udp>;expires=60", "contact value")
eq(m:sub(n, n + 2), "Via", "next header")
local a, p, hi, hn = parse.sip_uri(m, i)
eq(a, "192.0.2.1", "uri addr"); eq(p, 5070, "uri port"); eq(m:sub(hi, hn - 1), "192.0.2.1:5070", "host text")
local ti, tj = parse.sip_param(m, hn, "transport=")
eq(m:sub(ti, tj), "udp>", "transport")
local ei, ej = parse.sip_param(m, hn, "expires=")
eq(parse.uint(m, ei), 60, "expires")
local vi = parse.sip_header(m, n, "via")
local at = m:find("UDP ", vi, true) + 4
local va, vp, vn = parse.sip_hostport(m, at)
eq(va, "2001:db8::1", "via addr"); eq(vp, 5062, "via port"); eq(m:sub(at, vn - 1), "[2001:db8::1]:5062", "via text")
local v = parse.sdp_line(m, 1, "v")
eq(m:sub(v - 2, v), "v=0", "v=")
local ci, cj, cn = parse.sdp_line(m, v, "c", "m")
eq(m:sub(ci, cj), "IN IP4 192.0.2.1", "c="); eq(m:sub(cn, cn + 1), "m=", "after c=")
eq(parse.sdp_line(m, cn, "c", "m"), nil, "no c= after the media")
eq(parse.sip_header(m, 1, "Subject"), nil, "absent")
eq(select(2, parse.sip_uri("sip:a@192.0.2.1:80", 1)), "sip uri: port must be 1024..65535, got 80", "low port")
`)
	if err != nil {
		t.Fatal(err)
	}
	if err := L.DoString(`parse.sdp_line("x", 1, "cc")`); err == nil {
		t.Error("a two-letter SDP key did not raise")
	}
}
