package nfq

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
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

func newBatch() *batch {
	b := &batch{}
	for i := range b.bufs {
		b.bufs[i] = make([]byte, msgBufLen)
	}
	return b
}

// mmsghdr is the kernel's struct mmsghdr, for recvmmsg(2).
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
}

// nlLink is a netlink socket read with recvmmsg through the runtime's
// poller and written with write(2).
type nlLink struct {
	rc   syscall.RawConn
	fd   int
	hdrs [batchLen]mmsghdr
	iovs [batchLen]unix.Iovec
	cur  *batch
	n    int
	err  error
	// readFn is recvOnce bound once: a method value per call would
	// allocate.
	readFn func(fd uintptr) bool

	mu     sync.RWMutex // guards fd against close while a send runs
	closed bool
	closer func() error
}

func newNLLink(rc syscall.RawConn, closer func() error) (*nlLink, error) {
	l := &nlLink{rc: rc, closer: closer, fd: -1}
	if err := rc.Control(func(fd uintptr) { l.fd = int(fd) }); err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	l.readFn = l.recvOnce
	return l, nil
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
	l.n, l.err = 0, nil
	if err := l.rc.Read(l.readFn); err != nil {
		return errClosed
	}
	if l.err != nil {
		return l.err
	}
	b.n = l.n
	for i := range l.n {
		b.msgs[i] = b.bufs[i][:l.hdrs[i].len]
	}
	return nil
}

// recvOnce is the body of a poller read: false asks to wait for the
// socket to become readable.
func (l *nlLink) recvOnce(fd uintptr) bool {
	n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&l.hdrs[0])), batchLen,
		unix.MSG_DONTWAIT, 0, 0)
	switch {
	case errno == unix.EAGAIN || errno == unix.EINTR:
		return false
	case errno != 0:
		l.err = fmt.Errorf("recvmmsg: %w", errno)
	default:
		l.n = int(n)
	}
	return true
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
	return l.closer()
}
