package scripts_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/engine/enginetest"
)

// TestSIPPickupAcrossTwoNodes: in an HA pair, a call set up through one
// firewall can end through the other, whose helper flushed the previous
// call on the same SIP connection and so believes none is expected.
// With pickup its BYE lists and removes the call's media expectations
// (the synced copies); without, it skips the listing and they stay until
// their timeout. One expecter stands for the expectations both nodes
// hold once the pair has synced them.
func TestSIPPickupAcrossTwoNodes(t *testing.T) {
	for _, tt := range []struct {
		pickup      bool
		removedLast int
	}{{false, 0}, {true, 2}} {
		t.Run(fmt.Sprintf("pickup=%v", tt.pickup), func(t *testing.T) {
			x := &enginetest.Expecter{}
			nodeA, nodeB := sipNode(t, x, tt.pickup), sipNode(t, x, tt.pickup)
			conn := enginetest.Conn(1, "192.0.2.1", "192.0.2.2", 5060, 5060, engine.ProtoUDP)
			send := func(e *engine.Engine, payload string) {
				t.Helper()
				p := enginetest.Segment{Src: "192.0.2.1", Dst: "192.0.2.2", Proto: engine.ProtoUDP, SrcPort: 5060,
					DstPort: 5060, Payload: payload}.Packet(engine.CTEstablished)
				if d := e.Handle("sip", p, conn); d.Err != nil {
					t.Fatalf("%q: %v", payload[:20], d.Err)
				}
			}
			live := func() int { n, _ := x.Expectations(conn); return len(n) }

			send(nodeA, sipInvite) // call 1 through A
			send(nodeA, sipBye("3848276298220188511@192.0.2.1", 2))
			if n := live(); n != 0 {
				t.Fatalf("after call 1: %d expectations, want 0", n)
			}
			send(nodeB, sipInviteCall2) // call 2 set up through B
			if n := live(); n != 2 {
				t.Fatalf("after call 2's INVITE through B: %d expectations, want 2", n)
			}
			x.Removed = nil
			send(nodeA, sipBye("call2@192.0.2.1", 2)) // ... and ended through A
			if len(x.Removed) != tt.removedLast {
				t.Errorf("call 2's BYE through A removed %d expectations, want %d", len(x.Removed), tt.removedLast)
			}
		})
	}
}

// sipNode is one firewall's engine with the shipped SIP helper.
func sipNode(t *testing.T, x *enginetest.Expecter, pickup bool) *engine.Engine {
	t.Helper()
	e, err := engine.New(engine.Config{Workers: 1, Modules: modules(), Expecter: x})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	if _, err := e.LoadFile("sip/helper.lua", &engine.Overrides{Options: map[string]any{"pickup": pickup}}); err != nil {
		t.Fatal(err)
	}
	return e
}

// sipInviteCall2 is sipInvite for another call, on other media ports.
var sipInviteCall2 = strings.NewReplacer("3848276298220188511@192.0.2.1", "call2@192.0.2.1",
	"m=audio 49170", "m=audio 49180").Replace(sipInvite)

func sipBye(callID string, cseq int) string {
	return fmt.Sprintf("BYE sip:bob@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKbye%d\r\n"+
		"From: <sip:alice@192.0.2.1>;tag=1\r\nTo: <sip:bob@192.0.2.2>;tag=2\r\nCall-ID: %s\r\nCSeq: %d BYE\r\n"+
		"Content-Length: 0\r\n\r\n", cseq, callID, cseq)
}
