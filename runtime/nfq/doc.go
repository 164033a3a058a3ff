// Package nfq is the kernel packet source: it reads the packets of helped
// connections from NFQUEUE, with their conntrack (NFQA_CT), hands them to
// the engine and answers each with exactly one verdict, carrying the
// decision's expectation (NFQA_EXP), conntrack changes (NFQA_CT) and
// rewritten packet (NFQA_PAYLOAD).
//
// go-nfqueue cannot send NFQA_EXP nor CTA_HELP, so verdicts are built here
// and sent on the queue's own socket, which is the only socket the kernel
// accepts verdicts from.
package nfq
