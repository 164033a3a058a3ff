package nfq

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/ctlua/ctlua/engine"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// An Expecter creates expectations over ctnetlink (IPCTNL_MSG_EXP_NEW),
// which, unlike NFQA_EXP in a verdict, reports whether it worked. The
// master must be confirmed (not the first packet of its connection) and
// have a helper.
type Expecter struct {
	mu sync.Mutex
	c  *netlink.Conn
}

// DialExpecter opens a ctnetlink socket in the network namespace netns
// (0: the current one).
func DialExpecter(netns int) (*Expecter, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: netns})
	if err != nil {
		return nil, fmt.Errorf("ctnetlink: %w", err)
	}
	return &Expecter{c: c}, nil
}

// Close closes the socket.
func (x *Expecter) Close() error { return x.c.Close() }

// Expect implements engine.Expecter: it creates e for master over
// ctnetlink. The kernel's EBUSY (another master's expectation clashes)
// wraps engine.ErrExpectClash; an equal expectation of the same master is
// replaced by the kernel.
func (x *Expecter) Expect(master *engine.Conn, e *engine.Expectation) error {
	err := x.Create(master.Orig, e)
	if errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("%w: %w", engine.ErrExpectClash, err)
	}
	return err
}

// Create creates e with master as the master connection's original tuple.
func (x *Expecter) Create(master engine.Tuple, e *engine.Expectation) error {
	m, err := expectMessage(master, e)
	if err != nil {
		return err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if _, err := x.c.Execute(m); err != nil {
		return fmt.Errorf("ctnetlink: create expectation %s: %w", e, err)
	}
	return nil
}

func expectMessage(master engine.Tuple, e *engine.Expectation) (netlink.Message, error) {
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	ae.Nested(ctaExpectMaster, func(ae *netlink.AttributeEncoder) error {
		encodeTuple(ae, master, master.Proto)
		return nil
	})
	if err := encodeExpect(ae, e); err != nil {
		return netlink.Message{}, err
	}
	b, err := ae.Encode()
	if err != nil {
		return netlink.Message{}, fmt.Errorf("ctnetlink: encode expectation: %w", err)
	}
	fam := uint8(unix.AF_INET)
	if master.IsIPv6() {
		fam = unix.AF_INET6
	}
	return netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(subsysCTNLExp<<8 | msgExpNew),
			Flags: netlink.Request | netlink.Acknowledge | netlink.Create | netlink.Excl},
		Data: append(nfgenmsg(fam, 0), b...),
	}, nil
}
