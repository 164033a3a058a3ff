package hasync

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/runtime/nfq"
)

// Version is the version of the message format; a daemon refuses others.
const Version = 1

// MaxMessage bounds a datagram; a message never comes near it.
const MaxMessage = 8192

// Message kinds.
const (
	KindExpect   = "expect"   // an expectation a helper created
	KindUnexpect = "unexpect" // an expectation a helper removed
	KindSeqAdj   = "seqadj"   // a connection's sequence adjustment changed
)

// A Message is one thing the peer must apply to its kernel.
type Message struct {
	V    int    `json:"v"`
	Kind string `json:"kind"`
	// Master is the original tuple of the connection (for an
	// expectation, its master) and Zone its conntrack zone.
	Master engine.Tuple `json:"master"`
	Zone   uint16       `json:"zone,omitempty"`
	// Expect is the expectation, for KindExpect and KindUnexpect.
	Expect *engine.Expectation `json:"expect,omitempty"`
	// SeqAdj is the adjustment of both directions (indexed by
	// engine.Direction), for KindSeqAdj.
	SeqAdj *[2]nfq.SeqAdjust `json:"seqadj,omitempty"`
}

// Encode returns the datagram of m.
func (m *Message) Encode() ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("hasync: encode %s message: %w", m.Kind, err)
	}
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("hasync: %s message of %d bytes is over %d", m.Kind, len(b), MaxMessage)
	}
	return b, nil
}

// Decode parses and validates a datagram.
func Decode(b []byte) (*Message, error) {
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("hasync: datagram of %d bytes is over %d", len(b), MaxMessage)
	}
	var m Message
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("hasync: not a sync message: %w", err)
	}
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("hasync: %s message: %w", m.Kind, err)
	}
	return &m, nil
}

var errFamily = errors.New("addresses of different families")

func (m *Message) validate() error {
	if m.V != Version {
		return fmt.Errorf("version %d, want %d", m.V, Version)
	}
	if err := checkTuple(m.Master, true); err != nil {
		return fmt.Errorf("master: %w", err)
	}
	switch m.Kind {
	case KindExpect, KindUnexpect:
		if m.Expect == nil || m.SeqAdj != nil {
			return errors.New("needs expect and no seqadj")
		}
		e := m.Expect
		if err := checkTuple(e.Tuple, false); err != nil {
			return fmt.Errorf("expect.tuple: %w", err)
		}
		if e.Tuple.Dst.Is4() != m.Master.Src.Is4() {
			return fmt.Errorf("expect.tuple: %w from the master", errFamily)
		}
		if e.NAT != nil && e.NAT.Dir != engine.Original && e.NAT.Dir != engine.Reply {
			return fmt.Errorf("expect.nat.dir must be 0 or 1, got %d", e.NAT.Dir)
		}
	case KindSeqAdj:
		if m.SeqAdj == nil || m.Expect != nil {
			return errors.New("needs seqadj and no expect")
		}
		if m.Master.Proto != engine.ProtoTCP {
			return errors.New("a sequence adjustment needs a TCP connection")
		}
	default:
		return fmt.Errorf("unknown kind %q: want %q, %q or %q", m.Kind, KindExpect, KindUnexpect, KindSeqAdj)
	}
	return nil
}

// checkTuple requires a TCP or UDP tuple whose destination (and, when
// full, source) is an address, both of one family.
func checkTuple(t engine.Tuple, full bool) error {
	if t.Proto != engine.ProtoTCP && t.Proto != engine.ProtoUDP {
		return fmt.Errorf("protocol must be tcp (6) or udp (17), got %d", t.Proto)
	}
	if !t.Dst.IsValid() || (full && !t.Src.IsValid()) {
		return errors.New("addresses are required")
	}
	if t.Src.IsValid() && t.Src.Is4() != t.Dst.Is4() {
		return errFamily
	}
	return nil
}

// key identifies a connection across the pair: the conntrack id differs
// between the nodes, the original tuple and zone do not.
type key struct {
	orig engine.Tuple
	zone uint16
}

func unmapped(t engine.Tuple) engine.Tuple {
	t.Src, t.Dst = unmap(t.Src), unmap(t.Dst)
	return t
}

func unmap(a netip.Addr) netip.Addr {
	if a.IsValid() {
		return a.Unmap()
	}
	return a
}
