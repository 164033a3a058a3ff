package nfq

import (
	"context"
	"fmt"
	"time"

	"github.com/ctlua/ctlua/engine"
	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"github.com/ti-mo/netfilter"
	"golang.org/x/sys/unix"
)

// A KernelExpectation is one expectation of the kernel's table as
// ctnetlink reports it (`conntrack -L expect`).
type KernelExpectation struct {
	ID uint32
	// Timeout is the time left before the expectation expires.
	Timeout time.Duration
	// Tuple and Mask are the connections expected; Mask.Proto is 0xff.
	Tuple, Mask engine.Tuple
	// Master is the original tuple of the connection that expects.
	Master engine.Tuple
	// Helper is the master's helper: the helper that created it.
	Helper string
	// Class is the expectation's policy index in Helper.
	Class uint32
	// Flags are NF_CT_EXPECT_PERMANENT, _INACTIVE, _USERSPACE.
	Flags engine.ExpectFlags
	Zone  uint16
	// Fn names the NAT function the expected connection gets, if any.
	Fn string
}

// An ExpectEvent is a new expectation or one that went (matched by its
// connection, expired or deleted).
type ExpectEvent struct {
	New         bool
	Expectation KernelExpectation
}

func kernelExpectation(x *conntrack.Expect) KernelExpectation {
	k := KernelExpectation{ID: x.ID, Timeout: time.Duration(x.Timeout) * time.Second,
		Tuple: tuple(x.Tuple), Mask: tuple(x.Mask), Master: tuple(x.TupleMaster), Helper: x.HelpName,
		Class: x.Class, Flags: engine.ExpectFlags(x.Flags), Zone: x.Zone, Fn: x.Function}
	k.Mask.Proto = 0xff
	return k
}

// DumpExpectations lists the kernel's expectations, IPv4 and IPv6, in
// the network namespace netns (0: the current one).
func DumpExpectations(netns int) ([]KernelExpectation, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: netns})
	if err != nil {
		return nil, fmt.Errorf("ctnetlink: %w", err)
	}
	defer c.Close()
	return dumpExpectations(c)
}

// dumpExpectations sends IPCTNL_MSG_EXP_GET with NLM_F_DUMP for both
// families (AF_UNSPEC) on c.
func dumpExpectations(c *netlink.Conn) ([]KernelExpectation, error) {
	m := netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(subsysCTNLExp<<8 | msgExpGet), Flags: netlink.Request | netlink.Dump},
		Data:   nfgenmsg(unix.AF_UNSPEC, 0),
	}
	msgs, err := c.Execute(m)
	if err != nil {
		return nil, fmt.Errorf("ctnetlink: dump expectations: %w", err)
	}
	var out []KernelExpectation
	for _, m := range msgs {
		var ev conntrack.Event
		if err := ev.Unmarshal(m); err != nil {
			return out, fmt.Errorf("ctnetlink: dump expectations: %w", err)
		}
		if ev.Expect != nil {
			out = append(out, kernelExpectation(ev.Expect))
		}
	}
	return out, nil
}

// ExpectEvents receives ctnetlink's expectation events (`conntrack -E
// expect`).
type ExpectEvents struct{ c *netlink.Conn }

// ListenExpectations subscribes to the expectations the kernel creates
// and removes in the network namespace netns (0: the current one). Events
// from then on are delivered by Run.
func ListenExpectations(netns int) (*ExpectEvents, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: netns})
	if err != nil {
		return nil, fmt.Errorf("ctnetlink events: %w", err)
	}
	for _, g := range []netfilter.NetlinkGroup{netfilter.GroupCTExpNew, netfilter.GroupCTExpDestroy} {
		if err := c.JoinGroup(uint32(g)); err != nil {
			c.Close()
			return nil, fmt.Errorf("ctnetlink events: join group %d: %w", g, err)
		}
	}
	return &ExpectEvents{c: c}, nil
}

// Run calls fn with every event until ctx is done (nil) or the socket
// fails (events the kernel could not deliver fail it with ENOBUFS). It
// closes the socket.
func (l *ExpectEvents) Run(ctx context.Context, fn func(ExpectEvent)) error {
	return watchExpectations(ctx, l.c, fn)
}

// watchExpectations reads expectation events from c until ctx is done
// or c fails, and closes c.
func watchExpectations(ctx context.Context, c *netlink.Conn, fn func(ExpectEvent)) error {
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer func() {
		if stop() {
			c.Close()
		}
	}()
	for {
		msgs, err := c.Receive()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("ctnetlink events: %w", err)
		}
		for _, m := range msgs {
			if ev, ok := expectEvent(m); ok {
				fn(ev)
			}
		}
	}
}

// expectEvent decodes one ctnetlink event message; ok is false for a
// message that is not an expectation event this version decodes.
func expectEvent(m netlink.Message) (ev ExpectEvent, ok bool) {
	var ce conntrack.Event
	if err := ce.Unmarshal(m); err != nil || ce.Expect == nil {
		return ev, false
	}
	return ExpectEvent{New: ce.Type == conntrack.EventExpNew, Expectation: kernelExpectation(ce.Expect)}, true
}
