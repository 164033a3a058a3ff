package nfq

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/ctlua/ctlua/engine"
	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
)

func TestVerdictMessageBytes(t *testing.T) {
	tests := []struct {
		name string
		d    engine.Decision
		want []byte // nfgenmsg + attributes, written out by hand
	}{
		{
			name: "accept, nothing else",
			d:    engine.Decision{Verdict: engine.Accept},
			want: []byte{
				2, 0, 0, 5, // AF_INET, v0, queue 5
				12, 0, 2, 0, 0, 0, 0, 1, 0, 0, 0, 7, // NFQA_VERDICT_HDR {NF_ACCEPT, id 7}
			},
		},
		{
			name: "drop with private data and mark",
			d: engine.Decision{Verdict: engine.Drop, Update: engine.CTUpdate{
				Private: []byte("ab"), PrivateSet: true, Mark: 0x01020304, MarkSet: true}},
			want: []byte{
				2, 0, 0, 5,
				12, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 7, // NFQA_VERDICT_HDR {NF_DROP, id 7}
				32, 0, 11, 0x80, // NFQA_CT, nested
				20, 0, 5, 0x80, // CTA_HELP, nested
				8, 0, 1, 0, 'f', 't', 'p', 0, // CTA_HELP_NAME "ftp\0"
				6, 0, 2, 0, 'a', 'b', 0, 0, // CTA_HELP_INFO "ab" + padding
				8, 0, 8, 0, 1, 2, 3, 4, // CTA_MARK, big endian
			},
		},
		{
			name: "rewritten packet",
			d:    engine.Decision{Verdict: engine.Accept, Packet: []byte{0x45, 1, 2}},
			want: []byte{
				2, 0, 0, 5,
				12, 0, 2, 0, 0, 0, 0, 1, 0, 0, 0, 7,
				7, 0, 10, 0, 0x45, 1, 2, 0, // NFQA_PAYLOAD + padding
				4, 0, 11, 0x80, // NFQA_CT, empty: the kernel then adjusts TCP sequence numbers
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := verdictMessage(5, 2, 7, "ftp", &tt.d, nil)
			if err != nil {
				t.Fatal(err)
			}
			if m.Header.Type != 3<<8|1 || m.Header.Flags != netlink.Request {
				t.Errorf("header = %+v", m.Header)
			}
			if diff := cmp.Diff(tt.want, m.Data); diff != "" {
				t.Errorf("message data (-want +got):\n%s", diff)
			}
		})
	}
}

// TestVerdictExpectation decodes the NFQA_EXP of a verdict with
// ti-mo/conntrack's expectation decoder, an independent reading of the
// same wire format.
func TestVerdictExpectation(t *testing.T) {
	ones := netip.MustParseAddr("255.255.255.255")
	exp := engine.Expectation{
		Tuple: engine.Tuple{Src: netip.MustParseAddr("192.0.2.2"), Dst: netip.MustParseAddr("192.0.2.1"),
			Proto: engine.ProtoTCP, DstPort: 50000},
		Mask:  engine.Tuple{Src: ones, Dst: ones, Proto: 0xff, DstPort: 0xffff},
		Class: 1, Flags: engine.ExpectPermanent, Helper: "ftp",
		NAT: &engine.ExpectNAT{Dir: engine.Reply, Tuple: engine.Tuple{Src: netip.MustParseAddr("0.0.0.0"), SrcPort: 4000}},
		Fn:  "nat-follow-master",
	}
	d := engine.Decision{Verdict: engine.Accept}
	m, err := verdictMessage(0, 2, 9, "ftp", &d, &exp)
	if err != nil {
		t.Fatal(err)
	}
	ad, err := netlink.NewAttributeDecoder(m.Data[4:])
	if err != nil {
		t.Fatal(err)
	}
	var expBytes, ctBytes []byte
	for ad.Next() {
		switch ad.Type() {
		case nfqaExp:
			expBytes = ad.Bytes()
		case nfqaCT:
			ctBytes = ad.Bytes()
		}
	}
	if expBytes == nil || ctBytes == nil {
		t.Fatalf("verdict lacks NFQA_EXP (%v) or NFQA_CT (%v): the kernel attaches an expectation only with NFQA_CT", expBytes != nil, ctBytes != nil)
	}
	var ev conntrack.Event
	err = ev.Unmarshal(netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(subsysCTNLExp << 8)},
		Data: append([]byte{2, 0, 0, 0}, expBytes...)})
	if err != nil {
		t.Fatal(err)
	}
	got := ev.Expect
	if got.Tuple.IP.SourceAddress.String() != "192.0.2.2" || got.Tuple.Proto.DestinationPort != 50000 ||
		got.Tuple.Proto.Protocol != 6 || got.Mask.Proto.Protocol != 6 || got.Mask.Proto.SourcePort != 0 ||
		got.Mask.Proto.DestinationPort != 0xffff || got.Mask.IP.DestinationAddress != ones ||
		got.HelpName != "ftp" || got.Class != 1 || got.Flags != 1 || got.Function != "nat-follow-master" ||
		!got.NAT.Direction || got.NAT.Tuple.Proto.SourcePort != 4000 {
		t.Errorf("decoded expectation = %+v", got)
	}
}

func TestDecodeConn(t *testing.T) {
	orig := engine.Tuple{Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("192.0.2.2"),
		Proto: engine.ProtoTCP, SrcPort: 40000, DstPort: 21}
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	ae.Nested(ctaTupleOrig, func(ae *netlink.AttributeEncoder) error { encodeTuple(ae, orig, 6); return nil })
	ae.Nested(ctaTupleReply, func(ae *netlink.AttributeEncoder) error { encodeTuple(ae, orig.Reverse(), 6); return nil })
	ae.Uint32(ctaStatus, uint32(engine.StatusConfirmed|engine.StatusSeenReply))
	ae.Uint32(ctaTimeout, 120)
	ae.Nested(ctaHelp, func(ae *netlink.AttributeEncoder) error {
		ae.String(ctaHelpName, "ftp")
		ae.Bytes(ctaHelpInfo, []byte{1, 2, 3, 4})
		return nil
	})
	ae.Uint32(ctaMark, 7)
	ae.Uint32(12, 4242) // CTA_ID
	b, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := decodeConn(2, b)
	if err != nil {
		t.Fatal(err)
	}
	want := &engine.Conn{ID: 4242, Orig: orig, Reply: orig.Reverse(), Status: engine.StatusConfirmed | engine.StatusSeenReply,
		Timeout: 120, Helper: "ftp", Private: []byte{1, 2, 3, 4}, Mark: 7}
	if diff := cmp.Diff(want, c, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("conn (-want +got):\n%s", diff)
	}
	if _, _, err := decodeConn(2, []byte{1, 2, 3}); err == nil {
		t.Error("garbage decoded")
	}
	if !bytes.Equal(addr4(netip.Addr{}), []byte{0, 0, 0, 0}) {
		t.Error("invalid address is not 0.0.0.0")
	}
}
