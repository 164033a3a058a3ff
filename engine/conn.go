package engine

import (
	"fmt"
	"net/netip"
)

// A Direction is the direction of a packet relative to the connection that
// carries it.
type Direction uint8

// Directions, with the kernel's numbering (IP_CT_DIR_*).
const (
	Original Direction = 0
	Reply    Direction = 1
)

// Opposite returns the other direction.
func (d Direction) Opposite() Direction { return d ^ 1 }

func (d Direction) String() string {
	if d == Reply {
		return "reply"
	}
	return "original"
}

// ParseDirection parses "original" or "reply".
func ParseDirection(s string) (Direction, error) {
	switch s {
	case "original", "orig":
		return Original, nil
	case "reply":
		return Reply, nil
	}
	return 0, fmt.Errorf("direction must be \"original\" or \"reply\", got %q", s)
}

// CTInfo is the kernel's enum ip_conntrack_info: how a packet relates to its
// connection.
type CTInfo uint8

// CTInfo values, with the kernel's numbering.
const (
	CTEstablished      CTInfo = 0
	CTRelated          CTInfo = 1
	CTNew              CTInfo = 2
	CTEstablishedReply CTInfo = 3
	CTRelatedReply     CTInfo = 4
)

var ctinfoNames = [...]string{"established", "related", "new", "established_reply", "related_reply"}

func (c CTInfo) String() string {
	if int(c) < len(ctinfoNames) {
		return ctinfoNames[c]
	}
	return fmt.Sprintf("ctinfo(%d)", uint8(c))
}

// Direction returns the direction implied by the ctinfo.
func (c CTInfo) Direction() Direction {
	if c >= CTEstablishedReply {
		return Reply
	}
	return Original
}

// Status is the conntrack status bit set (the kernel's IPS_* flags).
type Status uint32

// Status bits, with the kernel's values.
const (
	StatusExpected    Status = 1 << 0
	StatusSeenReply   Status = 1 << 1
	StatusAssured     Status = 1 << 2
	StatusConfirmed   Status = 1 << 3
	StatusSrcNAT      Status = 1 << 4
	StatusDstNAT      Status = 1 << 5
	StatusSeqAdjust   Status = 1 << 6
	StatusSrcNATDone  Status = 1 << 7
	StatusDstNATDone  Status = 1 << 8
	StatusDying       Status = 1 << 9
	StatusFixedTimeot Status = 1 << 10
	StatusTemplate    Status = 1 << 11
	StatusUntracked   Status = 1 << 12
	StatusHelper      Status = 1 << 13
	StatusOffload     Status = 1 << 14
	StatusHWOffload   Status = 1 << 15

	// StatusNATMask is set when the connection is source or destination NAT'ed.
	StatusNATMask = StatusSrcNAT | StatusDstNAT
)

// StatusNames maps the Lua-facing name of each status bit to the bit.
var StatusNames = map[string]Status{
	"expected":      StatusExpected,
	"seen_reply":    StatusSeenReply,
	"assured":       StatusAssured,
	"confirmed":     StatusConfirmed,
	"src_nat":       StatusSrcNAT,
	"dst_nat":       StatusDstNAT,
	"seq_adjust":    StatusSeqAdjust,
	"src_nat_done":  StatusSrcNATDone,
	"dst_nat_done":  StatusDstNATDone,
	"dying":         StatusDying,
	"fixed_timeout": StatusFixedTimeot,
	"template":      StatusTemplate,
	"untracked":     StatusUntracked,
	"helper":        StatusHelper,
	"offload":       StatusOffload,
	"hw_offload":    StatusHWOffload,
}

// L4 protocol numbers the engine knows by name.
const (
	ProtoTCP uint8 = 6
	ProtoUDP uint8 = 17
)

// ProtoName returns "tcp", "udp" or the protocol number.
func ProtoName(p uint8) string {
	switch p {
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	}
	return fmt.Sprint(p)
}

// A Tuple identifies one direction of a connection: addresses, L4 protocol
// and ports. It is comparable and can be used as a map key.
type Tuple struct {
	Src, Dst         netip.Addr
	Proto            uint8
	SrcPort, DstPort uint16
}

// Reverse returns the tuple seen from the other end.
func (t Tuple) Reverse() Tuple {
	return Tuple{Src: t.Dst, Dst: t.Src, Proto: t.Proto, SrcPort: t.DstPort, DstPort: t.SrcPort}
}

// IsIPv6 reports whether the tuple's addresses are IPv6.
func (t Tuple) IsIPv6() bool { return t.Src.Is6() && !t.Src.Is4In6() }

func (t Tuple) String() string {
	return fmt.Sprintf("%s %s -> %s", ProtoName(t.Proto),
		netip.AddrPortFrom(t.Src, t.SrcPort), netip.AddrPortFrom(t.Dst, t.DstPort))
}

// A Conn is the engine's view of a conntrack entry, as the kernel (or the
// replay's simulated conntrack) reported it with the packet.
type Conn struct {
	// ID is the kernel's conntrack id (CTA_ID).
	ID uint32
	// Orig and Reply are the tuples of both directions. For a NAT'ed
	// connection they differ by more than a swap: Reply.Dst is the
	// translated source of the original direction, Reply.Src the translated
	// destination.
	Orig, Reply Tuple
	Status      Status
	Mark        uint32
	Zone        uint16
	// Timeout is the remaining lifetime in seconds.
	Timeout uint32
	// Helper is the name of the helper attached to the connection.
	Helper string
	// Private is the helper's kernel-kept private data (CTA_HELP_INFO).
	Private []byte
	// Master is the original tuple of the master connection when this
	// connection was created from an expectation.
	Master *Tuple
	Labels []byte
}

// Tuple returns the tuple of direction d.
func (c *Conn) Tuple(d Direction) Tuple {
	if d == Reply {
		return c.Reply
	}
	return c.Orig
}

// IsNAT reports whether the connection is source or destination NAT'ed.
func (c *Conn) IsNAT() bool { return c.Status&StatusNATMask != 0 }

// ConnKey identifies a connection for per-connection state. The conntrack id
// alone can be reused by the kernel, so the original tuple is part of it.
type ConnKey struct {
	ID   uint32
	Orig Tuple
}

// Key returns the connection's state key.
func (c *Conn) Key() ConnKey { return ConnKey{ID: c.ID, Orig: c.Orig} }

// Conntrack answers conntrack queries for scripts. The runtime implements it
// over ctnetlink, the replay over its simulated table.
type Conntrack interface {
	// Lookup returns the connection that has t as its original or reply
	// tuple, or an error wrapping ErrNotFound.
	Lookup(t Tuple) (*Conn, error)
}
