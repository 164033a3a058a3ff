package hasync

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/runtime/nfq"
)

// BenchmarkObserve is the cost the sync adds to a packet on the active
// node when nothing is to be sent: a connection whose adjustment has not
// changed since it was last sent (every packet after a rewrite).
func BenchmarkObserve(b *testing.B) {
	n, err := Listen(Config{Listen: netip.MustParseAddrPort("127.0.0.1:0"), Peer: netip.MustParseAddrPort("127.0.0.1:9"),
		Kernel: &fakeKernel{}, Retry: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer n.conn.Close()
	c := &engine.Conn{ID: 1, Orig: master}
	adj := [2]nfq.SeqAdjust{{Pos: 100, After: 5}}
	d := &engine.Decision{}
	n.Observe(c, adj, d)
	<-n.out
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n.Observe(c, adj, d)
	}
}
