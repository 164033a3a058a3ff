package nfq

import (
	"context"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/ctlua/ctlua/engine"
	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"
	"golang.org/x/sys/unix"
)

// kernelExpectMessage is an expectation as the kernel dumps or announces
// it: the creation message's attributes plus its timeout and id.
func kernelExpectMessage(t *testing.T, typ uint8, master engine.Tuple, e *engine.Expectation, timeout, id uint32) netlink.Message {
	t.Helper()
	m, err := expectMessage(master, e)
	if err != nil {
		t.Fatal(err)
	}
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	ae.Uint32(4, timeout) // CTA_EXPECT_TIMEOUT
	ae.Uint32(5, id)      // CTA_EXPECT_ID
	b, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	m.Data = append(m.Data, b...)
	m.Header = netlink.Header{Type: netlink.HeaderType(subsysCTNLExp<<8 | uint16(typ))}
	return m
}

var (
	ftpMaster = engine.Tuple{Src: netip.MustParseAddr("198.51.100.2"), Dst: netip.MustParseAddr("203.0.113.1"),
		Proto: engine.ProtoTCP, SrcPort: 40000, DstPort: 21}
	ftpData = engine.Expectation{Tuple: engine.Tuple{Src: netip.MustParseAddr("198.51.100.2"), Dst: netip.MustParseAddr("203.0.113.1"),
		Proto: engine.ProtoTCP, DstPort: 50000},
		Mask:   engine.Tuple{Src: netip.MustParseAddr("255.255.255.255"), Dst: netip.MustParseAddr("255.255.255.255"), DstPort: 0xffff},
		Helper: "ftp", Class: 0, Flags: engine.ExpectPermanent}
	tftpMaster = engine.Tuple{Src: netip.MustParseAddr("2001:db8::2"), Dst: netip.MustParseAddr("2001:db8::1"),
		Proto: engine.ProtoUDP, SrcPort: 5000, DstPort: 69}
	tftpData = engine.Expectation{Tuple: engine.Tuple{Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("2001:db8::2"),
		Proto: engine.ProtoUDP, DstPort: 5000},
		Mask:   engine.Tuple{Src: netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), Dst: netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), DstPort: 0xffff},
		Helper: "tftp", Class: 1}
)

func TestDumpExpectations(t *testing.T) {
	c := nltest.Dial(func(req []netlink.Message) ([]netlink.Message, error) {
		if len(req) != 1 || req[0].Header.Type != 2<<8|1 || req[0].Header.Flags&netlink.Dump == 0 || req[0].Data[0] != unix.AF_UNSPEC {
			t.Errorf("request %+v: want an IPCTNL_MSG_EXP_GET dump of both families", req)
		}
		msgs := []netlink.Message{
			kernelExpectMessage(t, msgExpNew, ftpMaster, &ftpData, 297, 11),
			kernelExpectMessage(t, msgExpNew, tftpMaster, &tftpData, 5, 12),
			{Data: []byte{0, 0, 0, 0}}, // NLMSG_DONE
		}
		for i := range msgs {
			msgs[i].Header.Sequence, msgs[i].Header.PID = req[0].Header.Sequence, nltest.PID
		}
		return nltest.Multipart(msgs)
	})
	defer c.Close()
	got, err := dumpExpectations(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d expectations, want 2: %+v", len(got), got)
	}
	f, v6 := got[0], got[1]
	if f.ID != 11 || f.Timeout != 297*time.Second || f.Helper != "ftp" || f.Master != ftpMaster ||
		f.Tuple != ftpData.Tuple || f.Mask.DstPort != 0xffff || f.Flags != engine.ExpectPermanent {
		t.Errorf("ftp expectation = %+v", f)
	}
	if v6.Helper != "tftp" || v6.Class != 1 || v6.Master != tftpMaster || v6.Tuple != tftpData.Tuple || v6.Mask.Proto != 0xff {
		t.Errorf("tftp expectation = %+v", v6)
	}
}

func TestWatchExpectations(t *testing.T) {
	events := [][]netlink.Message{
		{kernelExpectMessage(t, msgExpNew, ftpMaster, &ftpData, 300, 1)},
		{{Header: netlink.Header{Type: 1<<8 | 0}, Data: []byte{2, 0, 0, 0}}}, // a conntrack event: ignored
		{kernelExpectMessage(t, msgExpDelete, ftpMaster, &ftpData, 0, 1)},
	}
	n := 0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := nltest.Dial(func(req []netlink.Message) ([]netlink.Message, error) {
		if req != nil {
			t.Errorf("watch sent %+v", req)
		}
		if n == len(events) {
			cancel()
			<-time.After(10 * time.Millisecond)
			return nil, unix.EBADF
		}
		n++
		return events[n-1], nil
	})
	var got []ExpectEvent
	if err := watchExpectations(ctx, c, func(ev ExpectEvent) { got = append(got, ev) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got[0].New || got[1].New || got[0].Expectation.Tuple != ftpData.Tuple || got[1].Expectation.ID != 1 {
		t.Errorf("events = %+v; want the new then the destroyed ftp expectation", got)
	}
}

func TestWatchExpectationsFails(t *testing.T) {
	c := nltest.Dial(func([]netlink.Message) ([]netlink.Message, error) { return nil, unix.ENOBUFS })
	err := watchExpectations(context.Background(), c, func(ExpectEvent) { t.Error("an event out of an error") })
	if err == nil {
		t.Fatal("a failing socket watched on")
	}
}

// FuzzExpectEvent decodes arbitrary ctnetlink expectation messages: no
// panic, and a decoded expectation keeps its wildcard protocol mask.
func FuzzExpectEvent(f *testing.F) {
	for _, e := range []struct {
		m engine.Tuple
		x *engine.Expectation
	}{{ftpMaster, &ftpData}, {tftpMaster, &tftpData}} {
		m, _ := expectMessage(e.m, e.x)
		f.Add(uint8(msgExpNew), m.Data)
		f.Add(uint8(msgExpDelete), m.Data)
	}
	f.Fuzz(func(t *testing.T, typ uint8, data []byte) {
		m := netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(subsysCTNLExp<<8 | uint16(typ%4))}, Data: data}
		ev, ok := expectEvent(m)
		if ok && ev.Expectation.Mask.Proto != 0xff {
			t.Fatalf("decoded %+v", ev)
		}
	})
}
