// Package nfq is the kernel packet source: it reads the packets of helped
// connections from NFQUEUE, with their conntrack (NFQA_CT), hands them to
// the engine and answers each with exactly one verdict, carrying the
// decision's expectation (NFQA_EXP), conntrack changes (NFQA_CT) and
// rewritten packet (NFQA_PAYLOAD).
//
// The pump (pump.go) is built for packets per second: one receive loop
// reads up to 16 messages per recvmmsg(2) through the runtime's poller,
// decodes only what the engine needs from NFQA_CT in place (ctdecode.go),
// and hands each packet to the lane of its connection (lanes.go). A lane
// gathers its verdicts and sends them in one write(2) whenever it runs
// empty, so a busy queue pays one system call for many verdicts; the
// receive loop does the same for the packets it answers itself. Jobs and
// buffers are reused: a packet that is accepted without a script call
// costs no allocation from socket to verdict (BenchmarkPump).
//
// Verdicts are built here and sent on the queue's own socket, the only
// socket the kernel accepts verdicts from.
package nfq
