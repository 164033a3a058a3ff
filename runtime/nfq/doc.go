// Package nfq is the kernel packet source: it reads the packets of helped
// connections from NFQUEUE, with their conntrack (NFQA_CT), hands them to
// the engine and answers each with exactly one verdict, carrying the
// decision's expectation (NFQA_EXP), conntrack changes (NFQA_CT) and
// rewritten packet (NFQA_PAYLOAD).
//
// The pump (pump.go) is built for packets per second: one receive loop
// reads up to 16 messages per recvmmsg(2) through the runtime's poller,
// decodes only what the engine needs from NFQA_CT in place (ctdecode.go),
// and runs each packet in the engine itself when its connection's lane
// is idle (inline.go), or hands it to the lane (lanes.go). Verdicts are
// gathered and sent many per write(2): the receive loop's once per
// batch, a lane's whenever it runs empty. Jobs and buffers are reused: a
// packet costs no allocation from socket to verdict but what its script
// allocates (BenchmarkPump).
//
// Verdicts are built here and sent on the queue's own socket, the only
// socket the kernel accepts verdicts from.
package nfq
