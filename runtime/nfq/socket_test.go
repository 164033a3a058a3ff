package nfq

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ackMsg is an NLMSG_ERROR answering seq with errno (0: an
// acknowledgement).
func ackMsg(seq uint32, errno unix.Errno) []byte {
	b := make([]byte, nlmsgHdrLen+4+nlmsgHdrLen)
	binary.NativeEndian.PutUint32(b, uint32(len(b)))
	binary.NativeEndian.PutUint16(b[4:], nlmsgError)
	binary.NativeEndian.PutUint32(b[8:], seq)
	binary.NativeEndian.PutUint32(b[nlmsgHdrLen:], uint32(-int32(errno)))
	return b
}

// TestRequest drives the set-up request over a datagram socket pair: the
// request asks for an acknowledgement, other messages before the answer
// are skipped, and a refusal comes back as its errno.
func TestRequest(t *testing.T) {
	for _, c := range []struct {
		name    string
		answers [][]byte
		want    error
	}{
		{"acknowledged", [][]byte{ackMsg(1, 0)}, nil},
		{"refused", [][]byte{ackMsg(1, unix.EBUSY)}, unix.EBUSY},
		{"other messages first", [][]byte{ackMsg(7, unix.EPERM), {1, 2, 3}, ackMsg(1, unix.EOPNOTSUPP)}, unix.EOPNOTSUPP},
	} {
		t.Run(c.name, func(t *testing.T) {
			fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fds[1])
			tv := unix.NsecToTimeval(int64(5e9)) // a request that never comes fails the test
			if err := unix.SetsockoptTimeval(fds[1], unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
				t.Fatal(err)
			}
			l := newNLLink(fds[0])
			defer l.close()
			done := make(chan error, 1)
			go func() { done <- l.request(configMessage(3, 0xffff, 1024, nfqaCfgFlagConntrack)) }()
			buf := make([]byte, 4096)
			n, err := unix.Read(fds[1], buf)
			if err != nil {
				t.Fatal(err)
			}
			flags := binary.NativeEndian.Uint16(buf[6:])
			if n < nlmsgHdrLen || int(binary.NativeEndian.Uint32(buf)) != n || binary.NativeEndian.Uint32(buf[8:]) != 1 ||
				flags&unix.NLM_F_ACK == 0 || flags&unix.NLM_F_REQUEST == 0 {
				t.Fatalf("request header % x (%d bytes): want its length, sequence 1, NLM_F_REQUEST|NLM_F_ACK", buf[:nlmsgHdrLen], n)
			}
			for _, a := range c.answers {
				if _, err := unix.Write(fds[1], a); err != nil {
					t.Fatal(err)
				}
			}
			if err := <-done; !errors.Is(err, c.want) && !(err == nil && c.want == nil) {
				t.Fatalf("request: %v, want %v", err, c.want)
			}
		})
	}
}

// TestRecvTimeoutAndClose: a blocking receive on a quiet socket returns
// errClosed soon after close, not never.
func TestRecvTimeoutAndClose(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	l := newNLLink(fds[0])
	if err := l.setTimeout(); err != nil {
		t.Fatal(err)
	}
	b := newBatch()
	if _, err := unix.Write(fds[1], []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := l.recv(b); err != nil || b.n != 1 || string(b.msgs[0]) != "one" {
		t.Fatalf("recv: %v, %d datagrams", err, b.n)
	}
	// After packets, the next receives look without waiting, then wait:
	// a datagram that comes after the looks is still received.
	go func() {
		time.Sleep(50 * time.Millisecond)
		unix.Write(fds[1], []byte("two"))
	}()
	if err := l.recv(b); err != nil || b.n != 1 || string(b.msgs[0]) != "two" {
		t.Fatalf("recv after the polls: %v, %d datagrams", err, b.n)
	}
	done := make(chan error, 1)
	go func() { done <- l.recv(b) }()
	if err := l.close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, errClosed) {
		t.Fatalf("recv after close: %v, want errClosed", err)
	}
}
