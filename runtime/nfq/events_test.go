package nfq

import (
	"net/netip"
	"testing"

	"github.com/ti-mo/conntrack"
)

// TestDestroyedKey: the key built from a destroy event is the key the
// engine keeps state under for the connection's packets (flowConn).
func TestDestroyedKey(t *testing.T) {
	f := &conntrack.Flow{ID: 42, TupleOrig: conntrack.Tuple{
		IP:    conntrack.IPTuple{SourceAddress: netip.MustParseAddr("::ffff:192.0.2.1"), DestinationAddress: netip.MustParseAddr("192.0.2.2")},
		Proto: conntrack.ProtoTuple{Protocol: 6, SourcePort: 40000, DestinationPort: 21},
	}}
	k, ok := destroyedKey(conntrack.Event{Type: conntrack.EventDestroy, Flow: f})
	if !ok || k != flowConn(f).Key() || k.Orig.Src != netip.MustParseAddr("192.0.2.1") {
		t.Fatalf("key %+v, %v; want %+v", k, ok, flowConn(f).Key())
	}
	for _, ev := range []conntrack.Event{{Type: conntrack.EventNew, Flow: f}, {Type: conntrack.EventDestroy}} {
		if _, ok := destroyedKey(ev); ok {
			t.Errorf("%v: not a destroyed connection", ev.Type)
		}
	}
}
