package hasync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/runtime/nfq"
)

// Kernel is what a node applies its peer's messages to: the daemon's
// ctnetlink socket (*nfq.Expecter) in the node's network namespace.
type Kernel interface {
	// Expect creates e for master, replacing an equal expectation of the
	// same master (the copy conntrackd's ExpectationSync injected without
	// its NAT).
	Expect(master *engine.Conn, e *engine.Expectation) error
	// Unexpect deletes the expectation that catches e's tuple.
	Unexpect(master *engine.Conn, e *engine.Expectation) error
	// SetSeqAdjust sets one direction's sequence adjustment of conn.
	SetSeqAdjust(conn *engine.Conn, dir engine.Direction, s nfq.SeqAdjust) error
}

// Config configures a Node.
type Config struct {
	// Listen is the local address the peer sends to; Peer the peer's.
	Listen, Peer netip.AddrPort
	Kernel       Kernel
	Logger       *slog.Logger
	// Retry is how long a message whose connection is not in the kernel
	// yet (conntrackd has not created it) is tried again; 0 means 30 s.
	Retry time.Duration
	// RetryEvery is the pause between tries; 0 means 200 ms.
	RetryEvery time.Duration
}

// Stats are a node's counters.
type Stats struct {
	Sent, SendDropped, SendErrors      uint64
	Received, Bad, Applied, Retried    uint64
	Failed, Expired, ExpectationsFound uint64
	// Replaced counts the stale expectations deleted for the peer's.
	Replaced uint64
	// TakenOver counts the connections whose adjustment this node set at
	// their first packet here.
	TakenOver uint64
	// Followed counts the removals sent because an expectation the peer
	// holds a copy of went here (Destroyed).
	Followed uint64
	// Displaced counts the copies held for the peer that this node's
	// helper needed the tuple of (displace).
	Displaced uint64
}

// A Node is one daemon's end of the sync channel.
type Node struct {
	cfg  Config
	log  *slog.Logger
	conn *net.UDPConn
	peer *net.UDPAddr
	out  chan Message

	mu   sync.Mutex
	sent map[key][2]nfq.SeqAdjust // the last adjustment sent per connection
	// adopted holds the peer's adjustments, set on this node's copy of
	// the connection at its first packet here (takeOver).
	adopted  map[key][2]nfq.SeqAdjust
	nAdopted atomic.Int32
	// sentExp holds the expectations sent to the peer, until they go
	// here (Destroyed) or their time is up.
	sentExp map[expKey]time.Time
	// held indexes the copies this node created for the peer by their
	// destination (dstOf); nHeld counts them (written under mu, read
	// without it by the packet path's check).
	held  map[engine.Tuple][]heldCopy
	nHeld atomic.Int32

	sentN, dropped, sendErrs              atomic.Uint64
	received, bad, applied, retried       atomic.Uint64
	failed, expired, expectationsObserved atomic.Uint64
	takenOver, replaced, destroyedSent    atomic.Uint64
	displaced                             atomic.Uint64
	pendingMu                             sync.Mutex
	pending                               []pending
}

type pending struct {
	m     *Message
	until time.Time
}

// maxPending bounds the messages waiting for their connection; maxSent
// the connections whose last adjustment is remembered.
const (
	maxPending = 4096
	maxSent    = 1 << 16
)

// Listen opens the node's socket.
func Listen(cfg Config) (*Node, error) {
	if !cfg.Listen.IsValid() || !cfg.Peer.IsValid() {
		return nil, errors.New("hasync: listen and peer addresses are required")
	}
	if cfg.Retry == 0 {
		cfg.Retry = 30 * time.Second
	}
	if cfg.RetryEvery == 0 {
		cfg.RetryEvery = 200 * time.Millisecond
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(cfg.Listen))
	if err != nil {
		return nil, fmt.Errorf("hasync: listen on %s: %w", cfg.Listen, err)
	}
	return &Node{cfg: cfg, log: log, conn: c, peer: net.UDPAddrFromAddrPort(cfg.Peer),
		out: make(chan Message, 1024), sent: map[key][2]nfq.SeqAdjust{}, adopted: map[key][2]nfq.SeqAdjust{},
		sentExp: map[expKey]time.Time{}, held: map[engine.Tuple][]heldCopy{}}, nil
}

// Stats returns the node's counters.
func (n *Node) Stats() Stats {
	return Stats{Sent: n.sentN.Load(), SendDropped: n.dropped.Load(), SendErrors: n.sendErrs.Load(),
		Received: n.received.Load(), Bad: n.bad.Load(), Applied: n.applied.Load(), Retried: n.retried.Load(),
		Failed: n.failed.Load(), Expired: n.expired.Load(), ExpectationsFound: n.expectationsObserved.Load(),
		TakenOver: n.takenOver.Load(), Replaced: n.replaced.Load(), Followed: n.destroyedSent.Load(),
		Displaced: n.displaced.Load()}
}

// Run sends and receives until ctx is done, then closes the socket.
func (n *Node) Run(ctx context.Context) {
	go func() {
		<-ctx.Done()
		n.conn.Close()
	}()
	go n.retryLoop(ctx)
	go n.sendLoop(ctx)
	n.receive()
}

// queue hands m to the send loop; a full queue drops it (and counts).
func (n *Node) queue(m Message) {
	m.V = Version
	select {
	case n.out <- m:
	default:
		n.dropped.Add(1)
	}
}

func (n *Node) sendLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-n.out:
			b, err := m.Encode()
			if err == nil {
				_, err = n.conn.WriteToUDP(b, n.peer)
			}
			if err != nil {
				n.sendErrs.Add(1)
				n.log.Warn("ha sync: cannot send to the peer", "peer", n.cfg.Peer, "kind", m.Kind, "error", err)
				continue
			}
			n.sentN.Add(1)
		}
	}
}
