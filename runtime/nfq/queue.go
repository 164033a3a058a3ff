package nfq

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/engine/tick"
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
	// 0 means 256. A full lane is waited for while it moves (a flood
	// backs up into the kernel's queue); a packet arriving at a full lane
	// whose worker stays in one call for two budgets gets the
	// helper's default verdict at once (Stats.Overflows), and so do the
	// lane's next ones until another call starts: a slow connection
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
	// Observe, if set, sees every decision before its verdict is sent
	// (see Observer).
	Observe Observer
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
	// Inline counts the packets answered by the receive loop itself,
	// without a lane: packets without payload for a helper that declared
	// payload_only, when their lane had nothing unanswered.
	Inline uint64
	// InlineRuns counts the packets the receive loop ran in the engine
	// itself: the last of a batch, when its lane had nothing unanswered.
	InlineRuns uint64
	// Outstanding is the number of packets taken for the engine and not
	// answered yet (a gauge).
	Outstanding int64
}

// A Queue pumps the packets of one NFQUEUE through the engine.
type Queue struct {
	e   *engine.Engine
	cfg Config
	// sock is the kernel's socket (nil for a fake link): set-up
	// requests go there.
	sock *nlLink
	out  link
	log  *slog.Logger

	lanes   []*lane
	free    chan *job    // answered jobs, for reuse
	mu      sync.RWMutex // guards stop against in-flight accounting
	stop    bool
	busy    sync.WaitGroup
	pending atomic.Int64
	errc    chan error
	done    chan struct{} // closed by Stop: ends the supervisor
	// sup ticks the supervisor while a packet is in the engine.
	sup    *tick.Ticker
	pumped chan struct{} // closed when the receive loop ends
	// pumpGen is the generation of the current receive loop: the
	// supervisor deposes a loop stuck in the engine (runInline).
	pumpGen atomic.Uint64
	// inlineOff counts down the packets not to run inline after a slow
	// inline call.
	inlineOff atomic.Int64

	// rout holds the verdicts the receive loop sends itself (packets
	// answered at once), rdone the jobs among them; both are flushed
	// once per received batch.
	rout  []byte
	rdone int
	// routEarly is set when rout holds a verdict given before the
	// packet's lane was known (acceptEarly): a packet handed to any lane
	// waits for rout to be sent.
	routEarly bool
	// rest and restHead are what the receive loop has still to dispatch
	// of its batch: the next datagrams, and the rest of the current one.
	// The supervisor hands them to the next loop when it deposes one.
	rest     [][]byte
	restHead []byte
	// timer times the receive loop's waits for a full lane: laneWait (two
	// budgets: the watchdog stops a call after 1.25) in one engine call
	// stalls the lane.
	timer    *time.Timer
	laneWait time.Duration

	packets, verdicts, noCT, unparsable   atomic.Uint64
	enobufs, sendErrors, extra, extraErrs atomic.Uint64
	seqFixes, seqFixErrs                  atomic.Uint64
	overflows, abandoned, inline          atomic.Uint64
	inlineRuns                            atomic.Uint64
}

// A job is one queued packet on its way through a lane. Jobs are reused:
// data holds the packet and its conntrack attribute, which pkt and conn
// alias.
type job struct {
	id   uint32
	pkt  engine.Packet
	conn engine.Conn
	// seqadj is the connection's sequence adjustment per direction, as
	// the kernel reported it with the packet.
	seqadj [2]seqAdjust
	// answered is set (atomically, to 1) by whoever answers the packet
	// first: its lane, the overflow path, the stuck-lane supervisor.
	answered uint32
	data     []byte
	// decision is the engine's for the packet (handle).
	decision engine.Decision
	// skip is set when the helper's declaration leaves the packet out
	// (Engine.Skip, asked once by the receive loop): it is accepted
	// without the engine.
	skip bool
}

// Open opens the queue's netlink socket. Start binds it.
func Open(e *engine.Engine, cfg Config) (*Queue, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ReadBuffer == 0 {
		cfg.ReadBuffer = 8 << 20
	}
	fd, err := openSocket(cfg.NetNS, cfg.ReadBuffer)
	if err != nil {
		return nil, fmt.Errorf("nfqueue %d: open: %w", cfg.Queue, err)
	}
	l := newNLLink(fd)
	q := newQueue(e, cfg, l)
	q.sock = l
	return q, nil
}

// newQueue sets up a queue's lanes; out receives its packets and sends
// its verdicts.
func newQueue(e *engine.Engine, cfg Config, out link) *Queue {
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
	q := &Queue{e: e, cfg: cfg, out: out, log: cfg.Logger, done: make(chan struct{}),
		pumped: make(chan struct{}), errc: make(chan error, 1), sup: tick.New(max(cfg.StuckAfter/4, time.Millisecond))}
	for range e.Workers() {
		q.lanes = append(q.lanes, &lane{ch: make(chan *job, cfg.LaneLen), drained: make(chan struct{}, 1)})
	}
	q.free = make(chan *job, len(q.lanes)*cfg.LaneLen+batchLen)
	q.timer, q.laneWait = time.NewTimer(time.Hour), 2*e.Budget()
	q.timer.Stop()
	return q
}

// Start binds the queue, asking the kernel for each packet's conntrack,
// and starts serving it: packets go to the engine and come back as
// verdicts. Bind errors (a kernel without the conntrack glue, a queue
// another process reads) are returned here. Receive errors after that
// arrive on Err.
func (q *Queue) Start() error {
	if err := q.bind(); err != nil {
		q.out.close()
		return fmt.Errorf("nfqueue %d: bind: %w", q.cfg.Queue, err)
	}
	q.startLanes()
	go q.pump()
	return nil
}

// bind sends the queue's configuration in one NFQNL_MSG_CONFIG: bind,
// copy mode, queue length and flags take effect together, so no packet
// arrives without its conntrack.
func (q *Queue) bind() error {
	flags := uint32(nfqaCfgFlagConntrack)
	if q.cfg.FailOpen {
		flags |= nfqaCfgFlagFailOpen
	}
	maxLen := q.cfg.MaxQueueLen
	if maxLen == 0 {
		maxLen = 1024
	}
	if err := q.sock.request(configMessage(q.cfg.Queue, 0xffff, maxLen, flags)); err != nil {
		return err
	}
	return q.sock.setTimeout()
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
	q.out.close()
	select {
	case <-q.pumped:
	case <-time.After(q.cfg.StopTimeout):
		// The receive loop is stuck in the engine (runInline); once the
		// call returns, it finds the socket closed and ends.
	}
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

// handle runs the helper on j and appends its verdict message to b.
func (q *Queue) handle(j *job, b []byte) []byte {
	// The decision lives in the job, which is on the heap already: the
	// observer (a function value) would make a local one escape, an
	// allocation per packet.
	j.decision = q.decision(j)
	d := &j.decision
	q.observe(j, d)
	var exp *engine.Expectation
	if len(d.Expectations) > 0 {
		exp = &d.Expectations[0]
		q.createExtra(&j.conn, d.Expectations[1:])
	}
	if j.conn.Master != nil && exp == nil {
		// The kernel refuses CTA_HELP on an expected connection; send
		// only the fields it accepts there.
		d.Update.PrivateSet = false
	}
	if d.Packet == nil && exp == nil && d.Update.IsZero() {
		return appendVerdict(b, q.cfg.Queue, family(&j.pkt), j.id, d.Verdict)
	}
	helper := j.conn.Helper
	if helper == "" {
		helper = q.cfg.Helper
	}
	fixed := q.fixSeqAdjust(j, d.Packet)
	m, err := verdictMessage(q.cfg.Queue, family(&j.pkt), j.id, helper, d, exp)
	if err != nil {
		q.log.Error("cannot build verdict, accepting", "queue", q.cfg.Queue, "error", err)
		if fixed {
			q.restoreSeqAdjust(j)
		}
		return appendVerdict(b, q.cfg.Queue, family(&j.pkt), j.id, engine.Accept)
	}
	return appendMessage(b, m)
}

// createExtra creates a decision's expectations after the first (which
// travels in the verdict) over ctnetlink. ctnetlink refuses an expectation
// whose master is not confirmed yet (ENOENT), and on a connection's first
// packet the master is confirmed only once the kernel has taken this
// packet's verdict, which the pump sends later, with others: those are
// created by expectLater, once the master is there.
func (q *Queue) createExtra(conn *engine.Conn, exps []engine.Expectation) {
	if len(exps) == 0 {
		return
	}
	if q.cfg.Expecter == nil {
		q.extraErrs.Add(uint64(len(exps)))
		q.log.Warn("expectations dropped: only one travels in a verdict and no ctnetlink expecter is configured",
			"helper", q.cfg.Helper, "dropped", len(exps))
		return
	}
	if conn.Status&engine.StatusConfirmed == 0 {
		go q.expectLater(conn.Orig, cloneExpectations(exps))
		return
	}
	for i := range exps {
		q.createOne(conn.Orig, &exps[i], false)
	}
}

// expectLater creates exps for the unconfirmed master, retrying while
// ctnetlink answers ENOENT (the verdict that confirms it is not out yet),
// for about a second.
func (q *Queue) expectLater(master engine.Tuple, exps []engine.Expectation) {
	for i := range exps {
		q.createOne(master, &exps[i], true)
	}
}

// createOne creates e for master and counts it; with retry, it tries again
// while the master is not confirmed.
func (q *Queue) createOne(master engine.Tuple, e *engine.Expectation, retry bool) {
	q.extra.Add(1)
	err := q.cfg.Expecter.Create(master, e)
	for delay := time.Millisecond; retry && errors.Is(err, unix.ENOENT) && delay < time.Second; delay *= 2 {
		time.Sleep(delay)
		err = q.cfg.Expecter.Create(master, e)
	}
	if err != nil {
		q.extraErrs.Add(1)
		q.log.Warn("cannot create expectation", "helper", q.cfg.Helper, "expectation", e.String(), "error", err)
	}
}

// cloneExpectations copies exps, NAT included, out of the pump's reused
// decision.
func cloneExpectations(exps []engine.Expectation) []engine.Expectation {
	out := make([]engine.Expectation, len(exps))
	for i, e := range exps {
		if e.NAT != nil {
			nat := *e.NAT
			e.NAT = &nat
		}
		out[i] = e
	}
	return out
}

// Stats returns the queue's counters.
func (q *Queue) Stats() Stats {
	return Stats{
		Packets: q.packets.Load(), Verdicts: q.verdicts.Load(), WithoutConntrack: q.noCT.Load(),
		Unparsable: q.unparsable.Load(), ENOBUFS: q.enobufs.Load(), SendErrors: q.sendErrors.Load(),
		ExtraExpectations: q.extra.Load(), ExtraExpectationErrors: q.extraErrs.Load(),
		SeqAdjustFixes: q.seqFixes.Load(), SeqAdjustFixErrors: q.seqFixErrs.Load(),
		Overflows: q.overflows.Load(), Abandoned: q.abandoned.Load(), Inline: q.inline.Load(),
		InlineRuns: q.inlineRuns.Load(), Outstanding: q.pending.Load(),
	}
}

func family(p *engine.Packet) uint8 {
	if p.IsIPv6() {
		return unix.AF_INET6
	}
	return unix.AF_INET
}
