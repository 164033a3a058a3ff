package nfq

import (
	"encoding/binary"
	"fmt"
	"runtime"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// openSocket opens the queue's netfilter netlink socket, in blocking mode
// and outside the runtime's poller (see nlLink), in network namespace
// netns (a file descriptor; 0 is the caller's), with a receive buffer of
// rcvbuf bytes.
func openSocket(netns, rcvbuf int) (int, error) {
	if netns == 0 {
		return newSocket(rcvbuf)
	}
	type result struct {
		fd  int
		err error
	}
	c := make(chan result, 1)
	go func() {
		// The thread enters netns and is never unlocked: it ends with
		// this goroutine instead of serving others in that namespace.
		runtime.LockOSThread()
		if err := unix.Setns(netns, unix.CLONE_NEWNET); err != nil {
			c <- result{-1, fmt.Errorf("setns: %w", err)}
			return
		}
		fd, err := newSocket(rcvbuf)
		c <- result{fd, err}
	}()
	r := <-c
	return r.fd, r.err
}

func newSocket(rcvbuf int) (int, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind: %w", err)
	}
	// Past net.core.rmem_max with CAP_NET_ADMIN, else up to it.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf)
	}
	return fd, nil
}

// request sends m with an acknowledgement asked for and waits for the
// kernel's answer: nil, or the errno it refused m with. Only the queue's
// set-up uses it, before packets can arrive.
func (l *nlLink) request(m netlink.Message) error {
	m.Header.Sequence = 1
	m.Header.Length = uint32(nlmsgHdrLen + len(m.Data))
	m.Header.Flags |= netlink.Request | netlink.Acknowledge
	b, err := m.MarshalBinary()
	if err != nil {
		return err
	}
	if err := l.send(b); err != nil {
		return err
	}
	buf := make([]byte, 8192)
	for {
		n, _, err := unix.Recvfrom(l.fd, buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("recvfrom: %w", err)
		}
		if errno, ok := ackFor(buf[:n], m.Header.Sequence); ok {
			if errno != 0 {
				return errno
			}
			return nil
		}
	}
}

// ackFor finds the NLMSG_ERROR answering sequence seq in datagram d.
func ackFor(d []byte, seq uint32) (unix.Errno, bool) {
	for len(d) >= nlmsgHdrLen {
		n := int(binary.NativeEndian.Uint32(d))
		if n < nlmsgHdrLen || n > len(d) {
			return 0, false
		}
		typ := binary.NativeEndian.Uint16(d[4:])
		if typ == nlmsgError && n >= nlmsgHdrLen+4 && binary.NativeEndian.Uint32(d[8:]) == seq {
			return unix.Errno(-int32(binary.NativeEndian.Uint32(d[nlmsgHdrLen:]))), true
		}
		d = d[min((n+3)&^3, len(d)):]
	}
	return 0, false
}
