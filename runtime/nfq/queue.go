package nfq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ctlua/ctlua/engine"
	nfqueue "github.com/florianl/go-nfqueue/v2"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Config configures the queue of one helper.
type Config struct {
	// Queue is the NFQUEUE number the kernel helper was registered with.
	Queue uint16
	// Helper is the name of the helper, in the engine and in the kernel.
	Helper string
	// MaxQueueLen bounds the kernel's queue; 0 means the kernel's 1024.
	MaxQueueLen uint32
	// FailOpen makes the kernel accept packets when the queue is full
	// instead of dropping them (NFQA_CFG_F_FAIL_OPEN).
	FailOpen bool
	// ReadBuffer is the socket receive buffer in bytes; 0 means 8 MiB.
	ReadBuffer int
	// NetNS is a network namespace file descriptor to bind the queue in; 0
	// means the current namespace.
	NetNS int
	// Expecter creates the expectations a verdict cannot carry (a
	// packet's second and later ones); nil drops them with a log record.
	Expecter *Expecter
	Logger   *slog.Logger
	// LaneLen is the number of packets waiting for each engine worker;
	// 0 means 256. A packet arriving at a full lane gets the helper's
	// default verdict at once (Stats.Overflows): a slow connection
	// delays only its own worker's packets.
	LaneLen int
	// StuckAfter is how long a packet may be in the engine before it
	// gets the helper's default verdict and its lane a fresh goroutine
	// (Stats.Abandoned); 0 means the engine's StuckAfter plus a budget.
	StuckAfter time.Duration
	// StopTimeout bounds Stop's wait for the packets in flight; 0 means 5
	// seconds. Packets still unanswered then are left to the kernel,
	// which drops them when the queue is unbound.
	StopTimeout time.Duration
}

// Stats are a queue's counters.
type Stats struct {
	Packets, Verdicts, WithoutConntrack, Unparsable uint64
	ENOBUFS, SendErrors, ExtraExpectations          uint64
	ExtraExpectationErrors                          uint64
	// SeqAdjustFixes counts the IPv6 rewrites whose sequence adjustment
	// was corrected over ctnetlink (see seqadj.go), and SeqAdjustFixErrors
	// the corrections that failed.
	SeqAdjustFixes, SeqAdjustFixErrors uint64
	// Overflows counts the packets answered with the default verdict
	// because their worker's lane was full; Abandoned those answered so
	// because the engine did not return them in time.
	Overflows, Abandoned uint64
}

// A Queue pumps the packets of one NFQUEUE through the engine.
type Queue struct {
	e   *engine.Engine
	cfg Config
	nf  *nfqueue.Nfqueue
	out sender
	log *slog.Logger

	lanes   []*lane
	mu      sync.RWMutex // guards stop against in-flight accounting
	stop    bool
	busy    sync.WaitGroup
	pending atomic.Int64
	cancel  context.CancelFunc
	errc    chan error
	done    chan struct{} // closed by Stop: ends the supervisor

	packets, verdicts, noCT, unparsable   atomic.Uint64
	enobufs, sendErrors, extra, extraErrs atomic.Uint64
	seqFixes, seqFixErrs                  atomic.Uint64
	overflows, abandoned                  atomic.Uint64
}

// sender sends verdict messages: the queue's netlink socket.
type sender interface {
	Send(m netlink.Message) (netlink.Message, error)
}

type job struct {
	id   uint32
	pkt  engine.Packet
	conn *engine.Conn
	// seqadj is the connection's sequence adjustment per direction, as
	// the kernel reported it with the packet.
	seqadj [2]seqAdjust
	// answered is set (atomically, to 1) by whoever sends the packet's
	// verdict first: its worker, the overflow path, the stuck-lane
	// supervisor.
	answered uint32
}

// Open binds the queue, asking the kernel for each packet's conntrack.
func Open(e *engine.Engine, cfg Config) (*Queue, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ReadBuffer == 0 {
		cfg.ReadBuffer = 8 << 20
	}
	flags := uint32(nfqueue.NfQaCfgFlagConntrack)
	if cfg.FailOpen {
		flags |= nfqueue.NfQaCfgFlagFailOpen
	}
	nf, err := nfqueue.Open(&nfqueue.Config{
		NfQueue:      cfg.Queue,
		MaxQueueLen:  cfg.MaxQueueLen,
		MaxPacketLen: 0xffff,
		Copymode:     nfqueue.NfQnlCopyPacket,
		Flags:        flags,
		NetNS:        cfg.NetNS,
	})
	if err != nil {
		return nil, fmt.Errorf("nfqueue %d: open: %w", cfg.Queue, err)
	}
	if err := nf.Con.SetReadBuffer(cfg.ReadBuffer); err != nil {
		cfg.Logger.Warn("cannot set the queue's receive buffer", "queue", cfg.Queue, "error", err)
	}
	q := newQueue(e, cfg, nf.Con)
	q.nf = nf
	return q, nil
}

// newQueue sets up a queue's lanes; out sends its verdicts.
func newQueue(e *engine.Engine, cfg Config, out sender) *Queue {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.LaneLen <= 0 {
		cfg.LaneLen = 256
	}
	if cfg.StuckAfter <= 0 {
		cfg.StuckAfter = e.StuckAfter() + e.Budget()
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = 5 * time.Second
	}
	q := &Queue{e: e, cfg: cfg, out: out, log: cfg.Logger, done: make(chan struct{})}
	for range e.Workers() {
		q.lanes = append(q.lanes, &lane{ch: make(chan *job, cfg.LaneLen)})
	}
	return q
}

// Start binds the queue and starts serving it: packets go to the engine
// and come back as verdicts. Bind errors (a kernel without the conntrack
// glue, a queue another process reads) are returned here. Receive errors
// after that arrive on Err.
func (q *Queue) Start() error {
	q.startLanes()
	var inner context.Context
	inner, q.cancel = context.WithCancel(context.Background())
	q.errc = make(chan error, 1)
	err := q.nf.RegisterWithErrorFunc(inner, q.hook, func(err error) int {
		if errors.Is(err, unix.ENOBUFS) {
			// The kernel dropped messages for us: count, keep going.
			q.enobufs.Add(1)
			return 0
		}
		if inner.Err() != nil {
			return 1
		}
		var oe *netlink.OpError
		if errors.As(err, &oe) && oe.Timeout() {
			return 0
		}
		select {
		case q.errc <- fmt.Errorf("nfqueue %d: receive: %w", q.cfg.Queue, err):
		default:
		}
		return 1
	})
	if err != nil {
		q.cancel()
		q.stopLanes()
		q.nf.Close()
		return fmt.Errorf("nfqueue %d: bind: %w", q.cfg.Queue, err)
	}
	return nil
}

// Err returns the channel on which a failed receive loop reports.
func (q *Queue) Err() <-chan error { return q.errc }

// Stop stops taking packets for the engine (late packets are accepted at
// once), lets the workers answer every packet they hold, for at most
// StopTimeout, then unbinds the queue.
func (q *Queue) Stop() {
	q.mu.Lock()
	q.stop = true
	q.mu.Unlock()
	q.drain()
	q.cancel()
	q.nf.Close()
	q.stopLanes()
}

// drain waits for the packets in flight, for at most StopTimeout.
func (q *Queue) drain() {
	drained := make(chan struct{})
	go func() {
		q.busy.Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-time.After(q.cfg.StopTimeout):
		q.log.Error("stopping with packets unanswered: the kernel drops them when the queue is unbound",
			"queue", q.cfg.Queue, "packets", q.pending.Load(), "waited", q.cfg.StopTimeout)
	}
}

// hook runs on go-nfqueue's receive goroutine: it decodes and hands the
// packet to the worker that owns its connection, or answers at once.
func (q *Queue) hook(a nfqueue.Attribute) int {
	if a.PacketID == nil {
		return 0
	}
	q.packets.Add(1)
	id := *a.PacketID
	if a.Payload == nil {
		q.unparsable.Add(1)
		q.accept(id)
		return 0
	}
	pkt, err := engine.ParsePacket(*a.Payload)
	if err != nil {
		q.unparsable.Add(1)
		q.accept(id)
		return 0
	}
	if a.Ct == nil || a.CtInfo == nil {
		// No conntrack: the rule does not reference conntrack, or the
		// kernel lacks the glue. Nothing a helper can do.
		q.noCT.Add(1)
		q.accept(id)
		return 0
	}
	conn, seqadj, err := decodeConn(family(&pkt), *a.Ct)
	if err != nil {
		q.unparsable.Add(1)
		q.log.Warn("cannot decode the packet's conntrack, accepting", "queue", q.cfg.Queue, "error", err)
		q.accept(id)
		return 0
	}
	pkt.CTInfo = engine.CTInfo(*a.CtInfo)
	q.mu.RLock()
	if q.stop {
		q.mu.RUnlock()
		q.accept(id)
		return 0
	}
	q.busy.Add(1)
	q.pending.Add(1)
	q.mu.RUnlock()
	j := &job{id: id, pkt: pkt, conn: conn, seqadj: seqadj}
	select {
	case q.lanes[q.e.Shard(conn)%len(q.lanes)].ch <- j:
	default:
		q.overflows.Add(1)
		q.answerDefault(j)
	}
	return 0
}

// handle runs the helper and sends the verdict.
func (q *Queue) handle(j *job) {
	d := q.e.Handle(q.cfg.Helper, &j.pkt, j.conn)
	var exp *engine.Expectation
	if len(d.Expectations) > 0 {
		exp = &d.Expectations[0]
		// After the verdict: on a connection's first packet the master
		// is confirmed only once the kernel reinjected it (synchronously,
		// while it takes the verdict), and ctnetlink refuses an
		// expectation for an unconfirmed master (ENOENT).
		defer q.createExtra(j.conn, d.Expectations[1:])
	}
	helper := j.conn.Helper
	if helper == "" {
		helper = q.cfg.Helper
	}
	if j.conn.Master != nil && exp == nil {
		// The kernel refuses CTA_HELP on an expected connection; send
		// only the fields it accepts there.
		d.Update.PrivateSet = false
	}
	fixed := q.fixSeqAdjust(j, d.Packet)
	m, err := verdictMessage(q.cfg.Queue, family(&j.pkt), j.id, helper, &d, exp)
	if err != nil {
		q.log.Error("cannot build verdict, accepting", "queue", q.cfg.Queue, "error", err)
		if fixed {
			q.restoreSeqAdjust(j)
		}
		m, _ = verdictMessage(q.cfg.Queue, unix.AF_INET, j.id, "", &engine.Decision{Verdict: engine.Accept}, nil)
	}
	q.answer(j, m)
}

func (q *Queue) createExtra(conn *engine.Conn, exps []engine.Expectation) {
	for i := range exps {
		if q.cfg.Expecter == nil {
			q.extraErrs.Add(1)
			q.log.Warn("expectation dropped: only one travels in a verdict and no ctnetlink expecter is configured", "helper", q.cfg.Helper)
			continue
		}
		q.extra.Add(1)
		if err := q.cfg.Expecter.Create(conn.Orig, &exps[i]); err != nil {
			q.extraErrs.Add(1)
			q.log.Warn("cannot create expectation", "helper", q.cfg.Helper, "expectation", exps[i].String(), "error", err)
		}
	}
}

func (q *Queue) accept(id uint32) {
	m, _ := verdictMessage(q.cfg.Queue, unix.AF_INET, id, "", &engine.Decision{Verdict: engine.Accept}, nil)
	q.send(m)
}

func (q *Queue) send(m netlink.Message) {
	q.verdicts.Add(1)
	if _, err := q.out.Send(m); err != nil {
		q.sendErrors.Add(1)
		q.log.Error("cannot send verdict", "queue", q.cfg.Queue, "error", err)
	}
}

// Stats returns the queue's counters.
func (q *Queue) Stats() Stats {
	return Stats{
		Packets: q.packets.Load(), Verdicts: q.verdicts.Load(), WithoutConntrack: q.noCT.Load(),
		Unparsable: q.unparsable.Load(), ENOBUFS: q.enobufs.Load(), SendErrors: q.sendErrors.Load(),
		ExtraExpectations: q.extra.Load(), ExtraExpectationErrors: q.extraErrs.Load(),
		SeqAdjustFixes: q.seqFixes.Load(), SeqAdjustFixErrors: q.seqFixErrs.Load(),
		Overflows: q.overflows.Load(), Abandoned: q.abandoned.Load(),
	}
}

func family(p *engine.Packet) uint8 {
	if p.IsIPv6() {
		return unix.AF_INET6
	}
	return unix.AF_INET
}
