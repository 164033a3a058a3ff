package nfq

import (
	"errors"
	"fmt"
	"sync"

	"github.com/ctlua/ctlua/engine"
	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"
)

// Conntrack answers the engine's conntrack queries over ctnetlink.
type Conntrack struct {
	mu sync.Mutex // one query in flight per socket
	c  *conntrack.Conn
}

var _ engine.Conntrack = (*Conntrack)(nil)

// DialConntrack opens a ctnetlink socket in the network namespace netns
// (0: the current one).
func DialConntrack(netns int) (*Conntrack, error) {
	c, err := conntrack.Dial(&netlink.Config{NetNS: netns})
	if err != nil {
		return nil, fmt.Errorf("ctnetlink: %w", err)
	}
	return &Conntrack{c: c}, nil
}

// Close closes the socket.
func (c *Conntrack) Close() error { return c.c.Close() }

// Lookup returns the connection that has t as its original or reply tuple.
func (c *Conntrack) Lookup(t engine.Tuple) (*engine.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ct := conntrack.Tuple{
		IP:    conntrack.IPTuple{SourceAddress: t.Src, DestinationAddress: t.Dst},
		Proto: conntrack.ProtoTuple{Protocol: t.Proto, SourcePort: t.SrcPort, DestinationPort: t.DstPort},
	}
	f, err := c.c.Get(conntrack.Flow{TupleOrig: ct})
	if errors.Is(err, unix.ENOENT) {
		f, err = c.c.Get(conntrack.Flow{TupleReply: ct})
	}
	if errors.Is(err, unix.ENOENT) {
		return nil, fmt.Errorf("conntrack lookup %s: %w", t, engine.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("conntrack lookup %s: %w", t, err)
	}
	return flowConn(&f), nil
}

// flowConn converts a ti-mo/conntrack flow to the engine's view.
func flowConn(f *conntrack.Flow) *engine.Conn {
	c := &engine.Conn{
		ID:      f.ID,
		Orig:    tuple(f.TupleOrig),
		Reply:   tuple(f.TupleReply),
		Status:  engine.Status(f.Status),
		Mark:    f.Mark,
		Zone:    f.Zone,
		Timeout: f.Timeout,
		Helper:  f.Helper.Name,
		Private: f.Helper.Info,
		Labels:  f.Labels,
	}
	if f.TupleMaster.IP.SourceAddress.IsValid() {
		m := tuple(f.TupleMaster)
		c.Master = &m
	}
	return c
}

func tuple(t conntrack.Tuple) engine.Tuple {
	return engine.Tuple{
		Src:     t.IP.SourceAddress.Unmap(),
		Dst:     t.IP.DestinationAddress.Unmap(),
		Proto:   t.Proto.Protocol,
		SrcPort: t.Proto.SourcePort,
		DstPort: t.Proto.DestinationPort,
	}
}
