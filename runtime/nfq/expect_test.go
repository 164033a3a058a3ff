package nfq

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/ctlua/ctlua/engine"
)

func TestExpectTupleMessage(t *testing.T) {
	e := &engine.Expectation{Tuple: engine.Tuple{Src: netip.MustParseAddr("198.51.100.2"), Dst: netip.MustParseAddr("198.51.100.254"),
		Proto: engine.ProtoTCP, DstPort: 40000}}
	m := expectTupleMessage(msgExpDelete, e)
	if m.Header.Type != 2<<8|2 {
		t.Errorf("type %#x, want IPCTNL_MSG_EXP_DELETE (0x202)", m.Header.Type)
	}
	want := []byte{
		2, 0, 0, 0, // AF_INET
		52, 0, 2, 0x80, // CTA_EXPECT_TUPLE
		20, 0, 1, 0x80, // CTA_TUPLE_IP
		8, 0, 1, 0, 198, 51, 100, 2, // CTA_IP_V4_SRC
		8, 0, 2, 0, 198, 51, 100, 254, // CTA_IP_V4_DST
		28, 0, 2, 0x80, // CTA_TUPLE_PROTO
		5, 0, 1, 0, 6, 0, 0, 0, // CTA_PROTO_NUM tcp
		6, 0, 2, 0, 0, 0, 0, 0, // CTA_PROTO_SRC_PORT 0
		6, 0, 3, 0, 0x9c, 0x40, 0, 0, // CTA_PROTO_DST_PORT 40000
	}
	if !bytes.Equal(m.Data, want) {
		t.Errorf("message\n% x\nwant\n% x", m.Data, want)
	}
}
