package bindings_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ctlua/ctlua/bindings"
	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/engine/enginetest"
)

// run loads a helper whose on_packet is body and hands it one packet.
// The body asserts with check(cond, msg), which raises on failure.
func run(t *testing.T, body string, p *engine.Packet, c *engine.Conn) engine.Decision {
	t.Helper()
	e, err := engine.New(engine.Config{Workers: 1, Modules: bindings.Default()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	src := fmt.Sprintf(`local packet, expect, nat, log, options, conntrack = require("ctlua.packet"), require("ctlua.expect"), require("ctlua.nat"), require("ctlua.log"), require("ctlua.options"), require("ctlua.conntrack")
local function check(cond, msg) if not cond then error(msg, 2) end end
return {
  name = "t", l4 = "tcp", private_size = 8, options = {level = 3},
  policies = {{name = "data", max_expected = 4, timeout = 60}, {name = "other", max_expected = 1, timeout = 5}},
  on_packet = function(pkt, conn)
%s
  end,
}`, body)
	if _, err := e.Load("t.lua", []byte(src), nil); err != nil {
		t.Fatal(err)
	}
	return e.Handle("t", p, c)
}

var (
	v4conn = enginetest.Conn(7, "192.0.2.1", "192.0.2.2", 40000, 21, 0)
	v4pkt  = enginetest.Segment{Src: "192.0.2.1", Dst: "192.0.2.2", SrcPort: 40000, DstPort: 21,
		Seq: 4294967295, Ack: 9, Payload: "Hello World\r\nline two\r\npartial"}.Packet(engine.CTEstablished)
)

func TestBindings(t *testing.T) {
	tests := []struct{ name, body string }{
		{"packet fields", `
    check(pkt:dir() == "original" and not pkt:is_reply(), "dir")
    check(pkt:ctinfo() == "established", "ctinfo")
    check(pkt:l3() == "ipv4" and pkt:l4() == "tcp", "l3/l4")
    check(pkt:src() == "192.0.2.1" and pkt:dst() == "192.0.2.2", "addresses")
    check(pkt:sport() == 40000 and pkt:dport() == 21, "ports")
    check(pkt:seq() == 4294967295 and pkt:ack() == 9, "seq/ack")
    check(pkt:has_flag("psh") and pkt:has_flag("ack") and not pkt:has_flag("syn"), "flags")
    check(tostring(pkt):find("192.0.2.1:40000") ~= nil, "tostring")`},
		{"payload text", `
    check(pkt:len() == 30, "len " .. pkt:len())
    local s = pkt:payload()
    check(s == "Hello World\r\nline two\r\npartial", "payload")
    -- Every position function answers like the string function on the
    -- payload: the convention of docs/lua-api.md.
    for _, ij in ipairs({{1, 5}, {26, -1}, {-7, -1}, {0, 3}, {5, 2}, {29, 99}, {1}}) do
      check(pkt:sub(ij[1], ij[2]) == s:sub(ij[1], ij[2]), "sub " .. tostring(ij[1]) .. "," .. tostring(ij[2]))
    end
    for _, i in ipairs({1, 5, 30, -1, 31, 99}) do
      check(pkt:byte(i) == s:byte(i), "byte " .. i)
    end
    for _, f in ipairs({{"World"}, {"nope"}, {"l", 5}, {"l", -3}, {"\r\n", 14}}) do
      local i, j = pkt:find(f[1], f[2])
      local si, sj = s:find(f[1], f[2], true)
      check(i == si and j == sj, "find " .. f[1] .. " " .. tostring(f[2]) .. ": " .. tostring(i) .. " " .. tostring(si))
    end
    check(pkt:find("l", 100) == nil, "find past the end") -- gopher-lua's plain string.find panics here
    check(pkt:prefix("Hello") and not pkt:prefix("hello"), "prefix")
    check(pkt:iprefix("hELLO wORLD") and pkt:iprefix("WORLD", 7), "iprefix")
    check(not pkt:iprefix("Hello World\r\nline two\r\npartial and more"), "iprefix past end")
    local i, j = pkt:find("World")
    check(s:sub(i, j) == "World" and pkt:prefix("World", i), "find feeds sub and prefix")
    local line, next = pkt:line()
    check(line == "Hello World" and next == 14 and pkt:sub(next, next + 3) == "line", "line")
    check(pkt:line(next) == "line two", "line at next")
    check(pkt:line(24) == nil, "incomplete line")
    local got = {}
    for l, n in pkt:lines() do got[#got + 1] = l .. ":" .. n end
    check(table.concat(got, "|") == "Hello World:14|line two:24", table.concat(got, "|"))
    check(packet.find(pkt, "World") == 7, "module function")`},
		{"reader", `
    local r = pkt:reader()
    check(r:u8() == 72 and r:u16() == 0x656c and r:u16le() == 0x6f6c, "u8/u16")
    check(r:pos() == 6 and r:remaining() == 25 and pkt:sub(r:pos(), r:pos()) == " ", "pos")
    check(r:bytes(6) == " World", "bytes")
    r:skip(2)
    check(r:u32() == 0x6c696e65 and r:err() == nil, "u32")
    r:skip(100)
    check(r:err() ~= nil and r:u8() == 0 and r:bytes(1) == "", "sticky error")
    local s = packet.reader("\1\0\0\0")
    check(s:u32le() == 1, "string reader")
    check(packet.reader("ab\0\7", 3):u16() == 7 and pkt:reader(7):bytes(5) == "World", "reader at a position")`},
		{"conn", `
    check(conn:id() == 7 and conn:mark() == 0 and conn:zone() == 0, "ids")
    local o, r = conn:tuple(), conn:tuple("reply")
    check(o.src == "192.0.2.1" and o.dport == 21 and o.l3 == "ipv4" and o.l4 == "tcp", "orig")
    check(r.src == "192.0.2.2" and r.dport == 40000, "reply")
    check(conn:has_status("assured") and not conn:has_status("src_nat") and not conn:is_nat(), "status")
    check(table.concat(conn:status(), ",") == "assured,confirmed,seen_reply", table.concat(conn:status(), ","))
    check(not conn:is_related() and conn:master() == nil, "master")
    check(require("ctlua.conn").tuple(conn).dport == 21, "conn module")
    check(options.get("level") == 3, "options")
    conn:state().x = 1
    check(conn:state().x == 1, "state")`},
		{"expect", `
    check(expect.create{src = "192.0.2.2", dst = "192.0.2.1", dport = 5000, policy = "other", permanent = true, helper = "ftp"}, "create")
    check(expect.create{dst = "192.0.2.1", sport = 20, dport = 5001, l4 = "udp"}, "wildcard src")
    local function bad(spec, want)
      local ok, err = expect.create(spec)
      check(ok == nil and err:find(want, 1, true), "want error " .. want .. ", got " .. tostring(err))
    end
    bad({src = "192.0.2.2"}, "expectation needs a dst address")
    bad({dst = "2001:db8::1"}, "not of the connection's family")
    bad({dst = "192.0.2.1", dport = 70000}, "dport must be a port number")
    bad({dst = "192.0.2.1", policy = "nope"}, "policy \"nope\" is not declared by helper t (declared: data, other)")
    bad({dst = "192.0.2.1", colour = 1}, "unknown field colour")
    bad({dst = "192.0.2.1", nat = {dir = "sideways"}}, "nat: dir")`},
		{"log", `
    log.info("hello", {k = "v"})
    log.debug("quiet")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := run(t, tt.body, v4pkt, v4conn)
			if d.Err != nil {
				t.Fatal(d.Err)
			}
		})
	}
}

func TestExpectDecision(t *testing.T) {
	d := run(t, `expect.create{src = "192.0.2.2", dst = "192.0.2.1", dport = 5000, policy = "other", permanent = true, helper = "ftp",
      nat = {dir = "reply", port = 4000}}`, v4pkt, v4conn)
	if d.Err != nil || len(d.Expectations) != 1 {
		t.Fatalf("err %v, %d expectations", d.Err, len(d.Expectations))
	}
	e := d.Expectations[0]
	got := fmt.Sprintf("%s class %d flags %d helper %s fn %s", e.String(), e.Class, e.Flags, e.Helper, e.Fn)
	want := "tcp 192.0.2.2:* -> 192.0.2.1:5000 mask 255.255.255.255/0 -> 255.255.255.255/65535 policy other nat reply saved 0.0.0.0:4000 class 1 flags 1 helper ftp fn nat-follow-master"
	if got != want {
		t.Errorf("expectation\n got %s\nwant %s", got, want)
	}
}

func TestConnUpdates(t *testing.T) {
	d := run(t, `conn:set_private("abc"); conn:set_mark(42); conn:set_timeout(600)
    if conn:private() ~= "abc\0\0\0\0\0" then error("private not padded: " .. #conn:private()) end`, v4pkt, v4conn)
	if d.Err != nil {
		t.Fatal(d.Err)
	}
	u := d.Update
	if string(u.Private) != "abc\x00\x00\x00\x00\x00" || !u.PrivateSet || u.Mark != 42 || !u.MarkSet || u.Timeout != 600 || !u.TimeoutSet {
		t.Errorf("update = %+v", u)
	}
	d = run(t, `conn:set_private("123456789")`, v4pkt, v4conn)
	if d.Err == nil || !strings.Contains(d.Err.Error(), "private_size = 8") {
		t.Errorf("oversized private data: %v", d.Err)
	}
}

func TestNATReplace(t *testing.T) {
	body := `local i, j = pkt:find("World")
    local ok, err = nat.replace(pkt, i, j, "Lua Helpers")
    if not ok then error(err) end
    ok, err = nat.replace(pkt, 1, 5, "Howdy")
    if not ok then error(err) end`
	// On a connection that is not NAT'ed, a TCP length change is refused.
	d := run(t, body, v4pkt, v4conn)
	if d.Err == nil || !strings.Contains(d.Err.Error(), "not NAT'ed") {
		t.Fatalf("length change without NAT: %v", d.Err)
	}
	natted := *v4conn
	natted.Status |= engine.StatusSrcNAT
	d = run(t, body, v4pkt, &natted)
	if d.Err != nil {
		t.Fatal(d.Err)
	}
	p, err := engine.ParsePacket(d.Packet)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(p.Payload()); got != "Howdy Lua Helpers\r\nline two\r\npartial" {
		t.Errorf("payload = %q", got)
	}
	if !enginetest.Checksums(d.Packet) {
		t.Error("bad checksums")
	}
	// Same-length replacement works without NAT.
	d = run(t, `assert(nat.replace(pkt, 1, 5, "HELLO"))`, v4pkt, v4conn)
	if d.Err != nil || d.Packet == nil {
		t.Fatalf("same-length replace: %v", d.Err)
	}
}

type fakeConntrack map[engine.Tuple]*engine.Conn

func (f fakeConntrack) Lookup(t engine.Tuple) (*engine.Conn, error) {
	if c, ok := f[t]; ok {
		return c, nil
	}
	return nil, fmt.Errorf("lookup %s: %w", t, engine.ErrNotFound)
}

func TestConntrackQueries(t *testing.T) {
	master := enginetest.Conn(1, "192.0.2.1", "192.0.2.2", 40000, 21, 0)
	master.Helper = "ftp"
	child := enginetest.Conn(2, "192.0.2.2", "192.0.2.1", 20, 50000, 0)
	child.Master = &master.Orig
	ct := fakeConntrack{master.Orig: master}
	e, err := engine.New(engine.Config{Workers: 1, Modules: bindings.Default(), Conntrack: ct})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	_, err = e.Load("q.lua", []byte(`local conntrack = require("ctlua.conntrack")
return { name = "q", l4 = "tcp", policies = {{name = "p", max_expected = 1, timeout = 1}},
  on_packet = function(pkt, conn)
    local m = assert(conntrack.lookup_master(conn))
    if m.id ~= 1 or m.helper ~= "ftp" or m.orig.dport ~= 21 then error("master") end
    local x = assert(conntrack.lookup{src = "192.0.2.1", dst = "192.0.2.2", sport = 40000, dport = 21})
    if x.id ~= 1 then error("lookup") end
    local none, err = conntrack.lookup{src = "192.0.2.9", dst = "192.0.2.2", sport = 1, dport = 2}
    if none ~= nil or not err:find("not found") then error("missing: " .. tostring(err)) end
  end }`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := e.Handle("q", v4pkt, child); d.Err != nil {
		t.Fatal(d.Err)
	}
}

func TestMisuseRaises(t *testing.T) {
	for name, body := range map[string]string{
		"bad flag":       `pkt:has_flag("nope")`,
		"bad status":     `conn:has_status("nope")`,
		"unknown option": `options.get("nope")`,
		"bad direction":  `conn:tuple("up")`,
	} {
		t.Run(name, func(t *testing.T) {
			if d := run(t, body, v4pkt, v4conn); d.Err == nil {
				t.Error("no error raised")
			}
		})
	}
}
