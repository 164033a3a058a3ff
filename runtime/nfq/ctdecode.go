package nfq

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/ctlua/ctlua/engine"
)

// ctnetlink attributes read from NFQA_CT besides those in attr.go
// (include/uapi/linux/netfilter/nfnetlink_conntrack.h).
const (
	ctaID          = 12
	ctaTupleMaster = 14
)

// nlaNested is the NLA_F_NESTED bit; nlaTypeMask clears it and
// NLA_F_NET_BYTEORDER from an attribute's type.
const (
	nlaNested   = 0x8000
	nlaTypeMask = 0x3fff
)

var errAttr = errors.New("malformed netlink attribute")

// nextAttr splits the first netlink attribute off b: its type (without
// flags), its payload and the rest of b after its padding.
func nextAttr(b []byte) (typ uint16, val, rest []byte, err error) {
	if len(b) < 4 {
		return 0, nil, nil, errAttr
	}
	n := int(binary.NativeEndian.Uint16(b))
	if n < 4 || n > len(b) {
		return 0, nil, nil, errAttr
	}
	typ = binary.NativeEndian.Uint16(b[2:]) & nlaTypeMask
	val = b[4:n]
	n = (n + 3) &^ 3
	if n > len(b) {
		n = len(b)
	}
	return typ, val, b[n:], nil
}

// An attrs walks the netlink attributes of a buffer without allocating:
// next splits the first one off into typ and v, until the buffer is used
// up or malformed (err).
type attrs struct {
	b   []byte
	typ uint16
	v   []byte
	err error
}

func (a *attrs) next() bool {
	if len(a.b) == 0 || a.err != nil {
		return false
	}
	a.typ, a.v, a.b, a.err = nextAttr(a.b)
	return a.err == nil
}

// decodeConn decodes the NFQA_CT attribute of a queued packet into a new
// engine.Conn and the connection's TCP sequence adjustment per direction
// (zero when the kernel has none). The conn aliases ct.
func decodeConn(family uint8, ct []byte) (*engine.Conn, [2]seqAdjust, error) {
	c := new(engine.Conn)
	var adj [2]seqAdjust
	if err := decodeConnInto(c, &adj, ct, ""); err != nil {
		return nil, adj, err
	}
	return c, adj, nil
}

// decodeConnInto decodes NFQA_CT into c and adj without allocating: c's
// Private and Labels alias ct, and its Helper is helper when the kernel
// names that helper (a string is allocated only for another name). It
// reads only what the engine uses: id, tuples, status, mark, zone,
// timeout, helper name and data, master tuple, labels and sequence
// adjustments.
func decodeConnInto(c *engine.Conn, adj *[2]seqAdjust, ct []byte, helper string) error {
	*c, *adj = engine.Conn{}, [2]seqAdjust{}
	at := attrs{b: ct}
	for at.next() {
		if err := decodeCTAttr(c, adj, at.typ, at.v, helper); err != nil {
			return fmt.Errorf("decode NFQA_CT attribute %d: %w", at.typ, err)
		}
	}
	if at.err != nil {
		return fmt.Errorf("decode NFQA_CT: %w", at.err)
	}
	return nil
}

// decodeCTAttr decodes one top-level attribute of NFQA_CT.
func decodeCTAttr(c *engine.Conn, adj *[2]seqAdjust, typ uint16, v []byte, helper string) error {
	var err error
	switch typ {
	case ctaTupleOrig:
		err = decodeTuple(&c.Orig, v)
	case ctaTupleReply:
		err = decodeTuple(&c.Reply, v)
	case ctaTupleMaster:
		var t engine.Tuple
		if err = decodeTuple(&t, v); err == nil && t.Src.IsValid() {
			c.Master = &t
		}
	case ctaStatus:
		var s uint32
		s, err = be32(v)
		c.Status = engine.Status(s)
	case ctaID:
		c.ID, err = be32(v)
	case ctaMark:
		c.Mark, err = be32(v)
	case ctaTimeout:
		c.Timeout, err = be32(v)
	case ctaZone:
		if len(v) < 2 {
			return errAttr
		}
		c.Zone = binary.BigEndian.Uint16(v)
	case ctaHelp:
		err = decodeHelp(c, v, helper)
	case ctaLabels:
		c.Labels = v
	case ctaSeqAdjOrig:
		err = decodeSeqAdj(&adj[0], v)
	case ctaSeqAdjReply:
		err = decodeSeqAdj(&adj[1], v)
	}
	return err
}

func be32(v []byte) (uint32, error) {
	if len(v) < 4 {
		return 0, errAttr
	}
	return binary.BigEndian.Uint32(v), nil
}

// decodeTuple decodes CTA_TUPLE_IP and CTA_TUPLE_PROTO.
func decodeTuple(t *engine.Tuple, b []byte) error {
	at := attrs{b: b}
	for at.next() {
		var err error
		switch at.typ {
		case ctaTupleIP:
			err = decodeTupleIP(t, at.v)
		case ctaTupleProto:
			err = decodeTupleProto(t, at.v)
		}
		if err != nil {
			return err
		}
	}
	return at.err
}

func decodeTupleIP(t *engine.Tuple, b []byte) error {
	at := attrs{b: b}
	for at.next() {
		typ, v := at.typ, at.v
		var addr netip.Addr
		switch {
		case (typ == ctaIPv4Src || typ == ctaIPv4Dst) && len(v) == 4:
			addr = netip.AddrFrom4([4]byte(v))
		case (typ == ctaIPv6Src || typ == ctaIPv6Dst) && len(v) == 16:
			addr = netip.AddrFrom16([16]byte(v)).Unmap()
		case typ >= ctaIPv4Src && typ <= ctaIPv6Dst:
			return errAttr
		default:
			continue
		}
		if typ == ctaIPv4Src || typ == ctaIPv6Src {
			t.Src = addr
		} else {
			t.Dst = addr
		}
	}
	return at.err
}

func decodeTupleProto(t *engine.Tuple, b []byte) error {
	at := attrs{b: b}
	for at.next() {
		v := at.v
		switch at.typ {
		case ctaProtoNum:
			if len(v) < 1 {
				return errAttr
			}
			t.Proto = v[0]
		case ctaProtoSrc, ctaProtoDst:
			if len(v) < 2 {
				return errAttr
			}
			if at.typ == ctaProtoSrc {
				t.SrcPort = binary.BigEndian.Uint16(v)
			} else {
				t.DstPort = binary.BigEndian.Uint16(v)
			}
		}
	}
	return at.err
}

// decodeHelp decodes CTA_HELP: the helper's name (NUL-terminated) and its
// private data.
func decodeHelp(c *engine.Conn, b []byte, helper string) error {
	at := attrs{b: b}
	for at.next() {
		switch v := at.v; at.typ {
		case ctaHelpName:
			for len(v) > 0 && v[len(v)-1] == 0 {
				v = v[:len(v)-1]
			}
			if string(v) == helper {
				c.Helper = helper
			} else {
				c.Helper = string(v)
			}
		case ctaHelpInfo:
			c.Private = v
		}
	}
	return at.err
}

// decodeSeqAdj decodes CTA_SEQ_ADJ_ORIG or CTA_SEQ_ADJ_REPLY.
func decodeSeqAdj(s *seqAdjust, b []byte) error {
	at := attrs{b: b}
	for at.next() {
		x, err := be32(at.v)
		if err != nil {
			return err
		}
		switch at.typ {
		case ctaSeqAdjPos:
			s.Pos = x
		case ctaSeqAdjBefore:
			s.Before = int32(x)
		case ctaSeqAdjAfter:
			s.After = int32(x)
		}
	}
	return at.err
}
