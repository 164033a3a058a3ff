package nfq

import (
	"errors"
	"fmt"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A link is the queue's netlink socket as the pump uses it: many messages
// received per call, many verdicts sent per call. The kernel's socket is
// nlLink; tests and benchmarks use fakes.
type link interface {
	// recv waits for at least one datagram and fills the batch with as
	// many as are ready, up to its size.
	recv(b *batch) error
	// send writes one datagram of concatenated netlink messages.
	send(b []byte) error
	// close ends a pending and any later recv with errClosed.
	close() error
}

var errClosed = errors.New("queue closed")

// batchLen is the number of datagrams one recv can return, and msgBufLen
// the room for one: a whole packet (NFQA_PAYLOAD up to 65535 bytes) and
// its attributes.
const (
	batchLen  = 16
	msgBufLen = 65536 + 4096
)

// A batch is the datagrams of one recv: msgs[i] is datagram i, n of them.
type batch struct {
	bufs [batchLen][]byte
	msgs [batchLen][]byte
	n    int
}

// newBatch maps a batch's buffers from the kernel rather than the Go
// heap: the heap zeroes a reused span, which makes all of its 1.1 MB
// resident at once, while a mapping's pages become resident only as the
// kernel writes datagrams into them (a page or two per buffer for packets
// of an Ethernet MTU; the daemon turns transparent huge pages off, see
// runtime/daemon/memory.go). With fifteen helpers, one queue each, the
// daemon's anonymous memory went from 37 MB to 30 MB. A batch is never unmapped: it lives as long as its
// receive loop, and a deposed loop's last datagrams are read from it by
// the next one; a queue has one batch, and one more per deposed loop.
func newBatch() *batch {
	b := &batch{}
	mem, err := unix.Mmap(-1, 0, batchLen*msgBufLen, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	for i := range b.bufs {
		if err != nil { // no mapping: the heap will do
			b.bufs[i] = make([]byte, msgBufLen)
			continue
		}
		b.bufs[i] = mem[i*msgBufLen : (i+1)*msgBufLen : (i+1)*msgBufLen]
	}
	return b
}

// mmsghdr is the kernel's struct mmsghdr, for recvmmsg(2).
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
}

// nlLink is the queue's netlink socket, read with a blocking recvmmsg
// and written with write(2).
//
// The socket is blocking and the runtime's poller never sees it: the
// receive loop waits in the system call instead of parking. With the
// poller, a steady flow of packets cost, for every batch, a failed
// recvmmsg, an epoll_wait and the scheduler's search for work, and (with
// the descriptor in the poller but read by a blocking call) a wake-up of
// an idle thread per packet: under emulation, a quarter of the daemon's
// time. The socket's receive timeout (recvTimeout, set once the queue is
// bound) bounds each call, so that close, which waits for the call to
// return before it closes the descriptor, never waits long, and the
// descriptor cannot be reused under a pending call.
type nlLink struct {
	fd   int
	hdrs [batchLen]mmsghdr
	iovs [batchLen]unix.Iovec
	cur  *batch

	mu     sync.RWMutex // guards fd against close while a call runs
	closed bool
	// polls counts down the receives that look without waiting after one
	// that found packets (pollsAfterPackets).
	polls int
}

// pollsAfterPackets is how many receives look for packets without
// waiting, after one that found some, before a receive waits for them.
// Under a steady flow the next packet is usually there by then, and the
// kernel's queue finds the receive loop running instead of asleep: the
// sender then does not pay a wake-up (a reschedule, under emulation an
// interprocessor interrupt) for every packet. A receive that finds
// nothing costs a fraction of a microsecond natively.
const pollsAfterPackets = 16

// recvTimeout bounds one blocking receive: the longest a close waits.
const recvTimeout = 200 * time.Millisecond

func newNLLink(fd int) *nlLink { return &nlLink{fd: fd} }

// setTimeout bounds the blocking receives by recvTimeout.
func (l *nlLink) setTimeout() error {
	tv := unix.NsecToTimeval(recvTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(l.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fmt.Errorf("SO_RCVTIMEO: %w", err)
	}
	return nil
}

func (l *nlLink) recv(b *batch) error {
	if b != l.cur {
		for i := range l.hdrs {
			l.iovs[i].Base = &b.bufs[i][0]
			l.iovs[i].SetLen(len(b.bufs[i]))
			l.hdrs[i].hdr.Iov = &l.iovs[i]
			l.hdrs[i].hdr.SetIovlen(1)
		}
		l.cur = b
	}
	for {
		wait := l.polls == 0
		if !wait {
			l.polls--
		}
		n, err := l.recvOnce(wait)
		if err == unix.EAGAIN || err == unix.EINTR {
			continue // nothing yet, or the receive timeout: look at closed again
		}
		if err != nil {
			return err
		}
		l.polls = pollsAfterPackets
		b.n = n
		for i := range n {
			b.msgs[i] = b.bufs[i][:l.hdrs[i].len]
		}
		return nil
	}
}

// recvOnce takes the datagrams that are ready. With wait, it waits for
// at most recvTimeout for the first one (MSG_WAITFORONE); without, it
// returns EAGAIN at once when there is none, and does not tell the
// runtime about the call (it never blocks).
func (l *nlLink) recvOnce(wait bool) (int, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return 0, errClosed
	}
	call, flags := unix.RawSyscall6, uintptr(unix.MSG_DONTWAIT)
	if wait {
		call, flags = unix.Syscall6, unix.MSG_WAITFORONE
	}
	n, _, errno := call(unix.SYS_RECVMMSG, uintptr(l.fd), uintptr(unsafe.Pointer(&l.hdrs[0])), batchLen,
		flags, 0, 0)
	switch errno {
	case 0:
		return int(n), nil
	case unix.EAGAIN, unix.EINTR:
		return 0, errno
	}
	return 0, fmt.Errorf("recvmmsg: %w", errno)
}

func (l *nlLink) send(b []byte) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return errClosed
	}
	for {
		_, err := unix.Write(l.fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("write: %w", err)
		}
		return nil
	}
}

func (l *nlLink) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	return unix.Close(l.fd)
}
