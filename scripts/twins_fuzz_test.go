package scripts_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/engine/enginetest"
)

// fuzzTwin feeds the shipped helper dir a packet prefix (from the client)
// then the fuzzed payload in the reply direction and in the original
// one, on a plain and on a NAT'ed connection: whatever the bytes, the
// Lua decoders must not fail (a script error would apply the default
// verdict and be logged per packet).
func fuzzTwin(f *testing.F, dir string, proto uint8, dport uint16, prefix string, seeds ...string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	x := &enginetest.Expecter{}
	// A generous budget: parallel fuzz workers on a busy host stall calls
	// past the default 50 ms, which is not what this test looks for.
	e, err := engine.New(engine.Config{Workers: 1, Modules: modules(), Expecter: x, Budget: 2 * time.Second})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(e.Close)
	if _, err := e.LoadFile(dir+"/helper.lua", nil); err != nil {
		f.Fatal(err)
	}
	plain := enginetest.Conn(1, "192.0.2.1", "192.0.2.2", 40000, dport, proto)
	natted := enginetest.Conn(2, "192.0.2.1", "203.0.113.1", 40001, dport, proto)
	natted.Reply.Src = netip.MustParseAddr("198.51.100.2") // the server behind DNAT
	natted.Status |= engine.StatusDstNAT
	f.Fuzz(func(t *testing.T, payload []byte) {
		for _, c := range []*engine.Conn{plain, natted} {
			o, r := c.Orig, c.Reply
			send := func(p string, reply bool) {
				s := enginetest.Segment{Src: o.Src.String(), Dst: o.Dst.String(), Proto: proto, SrcPort: o.SrcPort, DstPort: o.DstPort, Seq: 1000, Payload: p}
				ctinfo := engine.CTEstablished
				if reply {
					s = enginetest.Segment{Src: r.Src.String(), Dst: r.Dst.String(), Proto: proto, SrcPort: r.SrcPort, DstPort: r.DstPort, Seq: 5000, Payload: p}
					ctinfo = engine.CTEstablishedReply
				}
				if d := e.Handle(dir, s.Packet(ctinfo), c); d.Err != nil {
					t.Fatalf("%x: %v", p, d.Err)
				}
			}
			send(prefix, prefix[4] == 5) // TNS: an empty REDIRECT from the server
			send(string(payload), true)
			send(string(payload), false)
		}
	})
}

func FuzzRPC(f *testing.F) {
	call := rpcMsg(true, 7, 0, 2, 100000, 2, 3, 0, 0, 0, 0, 100024, 1, 17, 0)
	fuzzTwin(f, "rpc", engine.ProtoTCP, 111, call,
		rpcMsg(true, 7, 1, 0, 0, 0, 0, 32765),
		rpcMsg(true, 7, 1, 0, 0, 0, 0, 17)+"192.0.2.2.127.253\x00\x00\x00",
		rpcMsg(true, 7, 1, 0, 0, 400))
}

func FuzzTNS(f *testing.F) {
	fuzzTwin(f, "tns", engine.ProtoTCP, 1521, "\x00\x0a\x00\x00\x05\x00\x00\x00\x00\x00",
		"\x00\x10\x00\x00\x06\x00\x00\x00\x00\x00(HOST=198.51.100.2)(PORT=1522)",
		"\x00\x10\x00\x00\x05\x00\x00\x00\x00\x20(ADDRESS=(HOST=[2001:db8::2])(PORT= 1 ))",
		"\x00\x10\x00\x00\x05\x00\x00\x00\xff\xff(HOST=1.2.3.4)")
}
