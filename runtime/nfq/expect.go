package nfq

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/ctlua/ctlua/engine"
	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
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
// ctnetlink, with nf_ct_expect_related's rules. Before it gets there,
// ctnetlink answers EEXIST when a live expectation already catches e's
// tuple; Expect then asks whose it is: another master's clashes
// (engine.ErrExpectClash, as the kernel's EBUSY also does), the same
// master's is replaced, as the kernel's helpers replace it.
func (x *Expecter) Expect(master *engine.Conn, e *engine.Expectation) error {
	err := x.Create(master.Orig, e)
	switch {
	case errors.Is(err, unix.EBUSY):
		return fmt.Errorf("%w: %w", engine.ErrExpectClash, err)
	case !errors.Is(err, unix.EEXIST):
		return err
	}
	holder, gerr := x.holder(e)
	if errors.Is(gerr, unix.ENOENT) {
		return x.Create(master.Orig, e) // it went meanwhile
	}
	if gerr != nil {
		return fmt.Errorf("%w (and asking whose: %w)", err, gerr)
	}
	if holder != master.Orig {
		return fmt.Errorf("%w: %s holds it: %w", engine.ErrExpectClash, holder, err)
	}
	if derr := x.execute(expectTupleMessage(msgExpDelete, e)); derr != nil && !errors.Is(derr, unix.ENOENT) {
		return fmt.Errorf("ctnetlink: replace expectation %s: %w", e, derr)
	}
	return x.Create(master.Orig, e)
}

// holder returns the master of the live expectation that catches e's
// tuple. It dumps the expectations (IPCTNL_MSG_EXP_GET with NLM_F_DUMP):
// the kernel flags its answer to a plain GET as multipart and never ends
// it, so a plain GET would wait forever.
func (x *Expecter) holder(e *engine.Expectation) (engine.Tuple, error) {
	m := netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(subsysCTNLExp<<8 | msgExpGet), Flags: netlink.Request | netlink.Dump},
		Data:   nfgenmsg(tupleFamily(e.Tuple), 0),
	}
	x.mu.Lock()
	msgs, err := x.c.Execute(m)
	x.mu.Unlock()
	if err != nil {
		return engine.Tuple{}, fmt.Errorf("ctnetlink: dump expectations: %w", err)
	}
	for _, m := range msgs {
		var ev conntrack.Event
		if err := ev.Unmarshal(m); err != nil || ev.Expect == nil {
			continue
		}
		live := engine.Expectation{Tuple: tuple(ev.Expect.Tuple), Mask: tuple(ev.Expect.Mask)}
		live.Mask.Proto = 0xff
		if live.Matches(e.Tuple) {
			return tuple(ev.Expect.TupleMaster), nil
		}
	}
	return engine.Tuple{}, fmt.Errorf("ctnetlink: no live expectation catches %s: %w", e, unix.ENOENT)
}

func (x *Expecter) execute(m netlink.Message) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	_, err := x.c.Execute(m)
	return err
}

// expectTupleMessage is an IPCTNL_MSG_EXP_GET or _DELETE naming an
// expectation by its tuple.
func expectTupleMessage(typ uint8, e *engine.Expectation) netlink.Message {
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	ae.Nested(ctaExpectTuple, func(ae *netlink.AttributeEncoder) error {
		encodeTuple(ae, e.Tuple, e.Tuple.Proto)
		return nil
	})
	b, _ := ae.Encode() // a tuple always encodes
	return netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(subsysCTNLExp<<8 | uint16(typ)), Flags: netlink.Request | netlink.Acknowledge},
		Data:   append(nfgenmsg(tupleFamily(e.Tuple), 0), b...),
	}
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
	return netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(subsysCTNLExp<<8 | msgExpNew),
			Flags: netlink.Request | netlink.Acknowledge | netlink.Create | netlink.Excl},
		Data: append(nfgenmsg(tupleFamily(master), 0), b...),
	}, nil
}
