package nfq

import (
	"encoding/binary"
	"fmt"

	"github.com/ctlua/ctlua/engine"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// verdictMessage builds the NFQNL_MSG_VERDICT for packet id of queue,
// carrying what the decision asks for. helper is the name of the helper
// attached to the connection: the kernel rejects the whole NFQA_CT (and
// with it the expectation) unless CTA_HELP names the connection's helper.
// At most one expectation travels in the verdict (the kernel takes one);
// the caller sends the others over ctnetlink.
func verdictMessage(queue uint16, family uint8, id uint32, helper string, d *engine.Decision, exp *engine.Expectation) (netlink.Message, error) {
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	hdr := make([]byte, 8)
	binary.BigEndian.PutUint32(hdr, uint32(d.Verdict))
	binary.BigEndian.PutUint32(hdr[4:], id)
	ae.Bytes(nfqaVerdictHdr, hdr)
	if d.Packet != nil {
		ae.Bytes(nfqaPayload, d.Packet)
	}
	u := &d.Update
	// NFQA_CT is needed for any conntrack change, for an expectation (the
	// kernel only attaches NFQA_EXP when NFQA_CT parsed) and for a
	// rewritten packet: the kernel adjusts the TCP sequence numbers after
	// a length change only when the verdict carries NFQA_CT. For a
	// rewrite alone it is empty, which the kernel accepts on any
	// connection, an expected one too.
	withHelp := !u.IsZero() || exp != nil
	if withHelp || d.Packet != nil {
		ae.Nested(nfqaCT, func(ae *netlink.AttributeEncoder) error {
			if u.TimeoutSet {
				ae.Uint32(ctaTimeout, u.Timeout)
			}
			if !withHelp {
				return nil
			}
			ae.Nested(ctaHelp, func(ae *netlink.AttributeEncoder) error {
				ae.String(ctaHelpName, helper)
				if u.PrivateSet {
					ae.Bytes(ctaHelpInfo, u.Private)
				}
				return nil
			})
			if u.LabelsSet {
				ae.Bytes(ctaLabels, u.Labels)
				ae.Bytes(ctaLabelsMask, u.LabelsMask)
			}
			if u.MarkSet {
				ae.Uint32(ctaMark, u.Mark)
			}
			return nil
		})
	}
	if exp != nil {
		ae.Nested(nfqaExp, func(ae *netlink.AttributeEncoder) error {
			return encodeExpect(ae, exp)
		})
	}
	b, err := ae.Encode()
	if err != nil {
		return netlink.Message{}, fmt.Errorf("verdict: %w", err)
	}
	return netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(subsysQueue<<8 | msgVerdict), Flags: netlink.Request},
		Data:   append(nfgenmsg(family, queue), b...),
	}, nil
}

// nfgenmsg returns the nfnetlink header: family, version 0, resource id.
func nfgenmsg(family uint8, res uint16) []byte {
	return []byte{family, 0, byte(res >> 8), byte(res)}
}

// encodeExpect writes the attributes of an expectation, as both NFQA_EXP
// and IPCTNL_MSG_EXP_NEW take them (without CTA_EXPECT_MASTER).
func encodeExpect(ae *netlink.AttributeEncoder, e *engine.Expectation) error {
	ae.Nested(ctaExpectTuple, func(ae *netlink.AttributeEncoder) error {
		encodeTuple(ae, e.Tuple, e.Tuple.Proto)
		return nil
	})
	// The mask carries the expectation's protocol number: the kernel looks
	// up the L4 protocol by it to parse the port masks.
	ae.Nested(ctaExpectMask, func(ae *netlink.AttributeEncoder) error {
		encodeTuple(ae, e.Mask, e.Tuple.Proto)
		return nil
	})
	if e.Helper != "" {
		ae.String(ctaExpectHelpName, e.Helper)
	}
	ae.Uint32(ctaExpectFlags, uint32(e.Flags))
	ae.Uint32(ctaExpectClass, e.Class)
	if e.NAT != nil {
		ae.Nested(ctaExpectNAT, func(ae *netlink.AttributeEncoder) error {
			ae.Uint32(ctaExpectNATDir, uint32(e.NAT.Dir))
			ae.Nested(ctaExpectNATTuple, func(ae *netlink.AttributeEncoder) error {
				encodeTuple(ae, e.NAT.Tuple, e.Tuple.Proto)
				return nil
			})
			return nil
		})
	}
	if e.Fn != "" {
		ae.String(ctaExpectFn, e.Fn)
	}
	return nil
}

// encodeTuple writes CTA_TUPLE_IP and CTA_TUPLE_PROTO.
func encodeTuple(ae *netlink.AttributeEncoder, t engine.Tuple, proto uint8) {
	ae.Nested(ctaTupleIP, func(ae *netlink.AttributeEncoder) error {
		if t.Src.Is4() || t.Dst.Is4() {
			ae.Bytes(ctaIPv4Src, addr4(t.Src))
			ae.Bytes(ctaIPv4Dst, addr4(t.Dst))
		} else {
			ae.Bytes(ctaIPv6Src, addr16(t.Src))
			ae.Bytes(ctaIPv6Dst, addr16(t.Dst))
		}
		return nil
	})
	ae.Nested(ctaTupleProto, func(ae *netlink.AttributeEncoder) error {
		ae.Uint8(ctaProtoNum, proto)
		ae.Uint16(ctaProtoSrc, t.SrcPort)
		ae.Uint16(ctaProtoDst, t.DstPort)
		return nil
	})
}

// appendVerdict appends a plain NFQNL_MSG_VERDICT for packet id of queue
// to b, without allocating: the verdict alone, nothing else changed.
func appendVerdict(b []byte, queue uint16, family uint8, id uint32, v engine.Verdict) []byte {
	const n = nlmsgHdrLen + 4 + 12
	b = appendHeader(b, n, subsysQueue<<8|msgVerdict, uint16(netlink.Request))
	b = append(b, family, 0, byte(queue>>8), byte(queue), // nfgenmsg
		12, 0, nfqaVerdictHdr, 0) // NFQA_VERDICT_HDR, 8 bytes
	b = binary.BigEndian.AppendUint32(b, uint32(v))
	return binary.BigEndian.AppendUint32(b, id)
}

// appendHeader appends a netlink message header for a message of n bytes.
func appendHeader(b []byte, n int, typ, flags uint16) []byte {
	b = binary.NativeEndian.AppendUint32(b, uint32(n))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = binary.NativeEndian.AppendUint16(b, flags)
	return append(b, 0, 0, 0, 0, 0, 0, 0, 0) // sequence and port: the kernel's
}

// appendMessage appends m, padded to the netlink alignment, to b.
func appendMessage(b []byte, m netlink.Message) []byte {
	n := nlmsgHdrLen + len(m.Data)
	b = appendHeader(b, n, uint16(m.Header.Type), uint16(m.Header.Flags))
	b = append(b, m.Data...)
	for ; n%4 != 0; n++ {
		b = append(b, 0)
	}
	return b
}

// nfnetlink_queue configuration (include/uapi/linux/netfilter/nfnetlink_queue.h).
const (
	nfqaCfgCmd    = 1
	nfqaCfgParams = 2
	nfqaCfgMaxLen = 3
	nfqaCfgMask   = 4
	nfqaCfgFlags  = 5

	nfqnlCfgCmdBind = 1
	nfqnlCopyPacket = 2

	nfqaCfgFlagFailOpen  = 1
	nfqaCfgFlagConntrack = 2
)

// configMessage binds queue and sets its copy range, length and flags in
// one NFQNL_MSG_CONFIG, acknowledged.
func configMessage(queue uint16, copyRange, maxLen, flags uint32) netlink.Message {
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	ae.Bytes(nfqaCfgCmd, []byte{nfqnlCfgCmdBind, 0, 0, 0})
	params := append(binary.BigEndian.AppendUint32(nil, copyRange), nfqnlCopyPacket)
	ae.Bytes(nfqaCfgParams, params)
	ae.Uint32(nfqaCfgMaxLen, maxLen)
	ae.Uint32(nfqaCfgMask, flags)
	ae.Uint32(nfqaCfgFlags, flags)
	b, _ := ae.Encode()
	return netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(subsysQueue<<8 | msgConfig),
			Flags: netlink.Request | netlink.Acknowledge},
		Data: append(nfgenmsg(unix.AF_UNSPEC, queue), b...),
	}
}
