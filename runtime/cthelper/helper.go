package cthelper

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/mdlayher/netlink"
)

// Limits of the kernel's nfnetlink_cthelper (include/net/netfilter).
const (
	// MaxNameLen is the longest helper or policy name in bytes
	// (NF_CT_HELPER_NAME_LEN - 1).
	MaxNameLen = 15
	// MaxPolicies is the largest number of expectation classes of a helper
	// (NF_CT_MAX_EXPECT_CLASSES).
	MaxPolicies = 4
	// MaxExpected is the largest Policy.MaxExpected (NF_CT_EXPECT_MAX_CNT).
	MaxExpected = 255
	// MaxPrivSize is the largest Helper.PrivSize: the size of the data
	// field of the kernel's struct nf_conn_help.
	MaxPrivSize = 32
)

// An L3Proto is the network-layer protocol of a helper, a netfilter
// protocol family (NFPROTO_*).
type L3Proto uint16

// The network-layer protocols a helper can be registered for.
const (
	IPv4 L3Proto = 2  // NFPROTO_IPV4
	IPv6 L3Proto = 10 // NFPROTO_IPV6
)

// String returns "ipv4", "ipv6" or the number of an unknown protocol.
func (p L3Proto) String() string {
	switch p {
	case IPv4:
		return "ipv4"
	case IPv6:
		return "ipv6"
	}
	return fmt.Sprintf("l3proto(%d)", uint16(p))
}

// The transport-layer protocols a helper can be registered for
// (IPPROTO_TCP and IPPROTO_UDP).
const (
	TCP uint8 = 6
	UDP uint8 = 17
)

// l4String names a transport protocol in messages.
func l4String(p uint8) string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	}
	return fmt.Sprintf("l4proto(%d)", p)
}

// A Helper describes a user-space conntrack helper as the kernel knows it.
// The kernel identifies a helper by Name, L3 and L4.
type Helper struct {
	// Name is the helper's name, 1 to MaxNameLen bytes. Rules attach the
	// helper by this name.
	Name string
	// L3 is the network-layer protocol: IPv4 or IPv6.
	L3 L3Proto
	// L4 is the transport-layer protocol: TCP or UDP.
	L4 uint8
	// QueueNum is the NFQUEUE number the kernel queues the packets of
	// helped connections to.
	QueueNum uint32
	// Policies are the helper's expectation classes: 1 to MaxPolicies of
	// them. Policies[i] is expectation class i.
	Policies []Policy
	// PrivSize is the number of bytes of private data, 0 to MaxPrivSize,
	// that the kernel keeps for each helped connection.
	PrivSize uint32
	// Enabled reports whether the kernel queues packets to user space. A
	// disabled helper stays attached to its connections but lets their
	// packets pass without queueing them.
	Enabled bool
}

// A Policy is an expectation class of a Helper: how many expectations a
// connection may have pending in the class and how long they live.
type Policy struct {
	// Name is the class name, 1 to MaxNameLen bytes, unique in the helper.
	Name string
	// MaxExpected is the largest number of pending expectations of the
	// class per connection, 1 to MaxExpected. When it is reached the
	// oldest expectation of the class is replaced.
	MaxExpected uint32
	// Timeout is the lifetime of an expectation of the class: at least a
	// second, in whole seconds.
	Timeout time.Duration
}

// Validate reports whether the kernel can register h, with an error that
// says which field breaks which rule.
func (h Helper) Validate() error {
	if err := checkName(h.Name); err != nil {
		return fmt.Errorf("cthelper: helper %q: name %w", h.Name, err)
	}
	if err := checkProtos(h.L3, h.L4); err != nil {
		return fmt.Errorf("cthelper: helper %q: %w", h.Name, err)
	}
	if n := len(h.Policies); n < 1 || n > MaxPolicies {
		return fmt.Errorf("cthelper: helper %q: needs 1..%d policies, got %d", h.Name, MaxPolicies, n)
	}
	for i, p := range h.Policies {
		if err := p.validate(); err != nil {
			return fmt.Errorf("cthelper: helper %q: %s: %w", h.Name, policyLabel(i, p.Name), err)
		}
		for j := range i {
			if h.Policies[j].Name == p.Name {
				return fmt.Errorf("cthelper: helper %q: %s: name is also used by policy %d, names must be unique",
					h.Name, policyLabel(i, p.Name), j)
			}
		}
	}
	if h.PrivSize > MaxPrivSize {
		return fmt.Errorf("cthelper: helper %q: private data size must be 0..%d bytes, got %d", h.Name, MaxPrivSize, h.PrivSize)
	}
	return nil
}

func (p Policy) validate() error {
	if err := checkName(p.Name); err != nil {
		return fmt.Errorf("name %w", err)
	}
	if p.MaxExpected < 1 || p.MaxExpected > MaxExpected {
		return fmt.Errorf("max_expected must be 1..%d, got %d", MaxExpected, p.MaxExpected)
	}
	if p.Timeout < time.Second || p.Timeout%time.Second != 0 || p.Timeout/time.Second > math.MaxUint32 {
		return fmt.Errorf("timeout must be whole seconds from 1s to %ds, got %v", uint32(math.MaxUint32), p.Timeout)
	}
	return nil
}

// policyLabel names policy i in messages, with its name when it has one.
func policyLabel(i int, name string) string {
	if name == "" {
		return fmt.Sprintf("policy %d", i)
	}
	return fmt.Sprintf("policy %d (%q)", i, name)
}

func checkName(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("must not be empty")
	case len(s) > MaxNameLen:
		return fmt.Errorf("must be at most %d bytes, got %d", MaxNameLen, len(s))
	case bytes.IndexByte([]byte(s), 0) >= 0:
		return fmt.Errorf("must not contain NUL bytes")
	}
	return nil
}

func checkProtos(l3 L3Proto, l4 uint8) error {
	if l3 != IPv4 && l3 != IPv6 {
		return fmt.Errorf("l3 must be ipv4 (%d) or ipv6 (%d), got %d", IPv4, IPv6, uint16(l3))
	}
	if l4 != TCP && l4 != UDP {
		return fmt.Errorf("l4 must be tcp (%d) or udp (%d), got %d", TCP, UDP, l4)
	}
	return nil
}

// Netlink constants of nfnetlink_cthelper
// (include/uapi/linux/netfilter/nfnetlink_cthelper.h, nfnetlink.h).
const (
	netlinkNetfilter = 12 // NETLINK_NETFILTER
	subsysCTHelper   = 9  // NFNL_SUBSYS_CTHELPER

	msgNew = 0 // NFNL_MSG_CTHELPER_NEW
	msgGet = 1 // NFNL_MSG_CTHELPER_GET
	msgDel = 2 // NFNL_MSG_CTHELPER_DEL

	nfcthName        = 1 // NFCTH_NAME
	nfcthTuple       = 2 // NFCTH_TUPLE
	nfcthQueueNum    = 3 // NFCTH_QUEUE_NUM
	nfcthPolicy      = 4 // NFCTH_POLICY
	nfcthPrivDataLen = 5 // NFCTH_PRIV_DATA_LEN
	nfcthStatus      = 6 // NFCTH_STATUS

	nfcthTupleL3 = 1 // NFCTH_TUPLE_L3PROTONUM, be16
	nfcthTupleL4 = 2 // NFCTH_TUPLE_L4PROTONUM, u8

	nfcthPolicySetNum = 1 // NFCTH_POLICY_SET_NUM; NFCTH_POLICY_SET1.. follow

	nfcthPolicyName    = 1 // NFCTH_POLICY_NAME
	nfcthPolicyMax     = 2 // NFCTH_POLICY_EXPECT_MAX
	nfcthPolicyTimeout = 3 // NFCTH_POLICY_EXPECT_TIMEOUT, seconds

	statusDisabled = 0 // NFCT_HELPER_STATUS_DISABLED
	statusEnabled  = 1 // NFCT_HELPER_STATUS_ENABLED
)

// msgType is the netlink message type of cthelper message msg.
func msgType(msg uint16) netlink.HeaderType {
	return netlink.HeaderType(subsysCTHelper<<8 | msg)
}

// nfgenmsgLen is the length of struct nfgenmsg, the header of every
// nfnetlink message.
const nfgenmsgLen = 4

// withHeader prepends the nfgenmsg header to encoded attributes. The header
// is all zeros: family AF_UNSPEC, version NFNETLINK_V0, resource id 0.
func withHeader(attrs []byte) []byte {
	return append(make([]byte, nfgenmsgLen, nfgenmsgLen+len(attrs)), attrs...)
}

// marshal encodes h as the attributes of a NEW message, in the kernel's
// order. Without privSize it leaves out NFCTH_PRIV_DATA_LEN, which kernels
// without commit 8971ee8b0877 (June 2021, backported to 5.10.y) reject on
// update with EBUSY even when it is unchanged. marshal encodes what it is given; validation
// is the caller's job.
func (h Helper) marshal(privSize bool) ([]byte, error) {
	ae := newEncoder()
	encodeKey(ae, h.Name, h.L3, h.L4)
	ae.Uint32(nfcthQueueNum, h.QueueNum)
	ae.Nested(nfcthPolicy, func(nae *netlink.AttributeEncoder) error {
		nae.Uint32(nfcthPolicySetNum, uint32(len(h.Policies)))
		for i, p := range h.Policies {
			nae.Nested(uint16(nfcthPolicySetNum+1+i), func(pae *netlink.AttributeEncoder) error {
				pae.String(nfcthPolicyName, p.Name)
				pae.Uint32(nfcthPolicyMax, p.MaxExpected)
				pae.Uint32(nfcthPolicyTimeout, uint32(p.Timeout/time.Second))
				return nil
			})
		}
		return nil
	})
	if privSize {
		ae.Uint32(nfcthPrivDataLen, h.PrivSize)
	}
	status := uint32(statusDisabled)
	if h.Enabled {
		status = statusEnabled
	}
	ae.Uint32(nfcthStatus, status)
	return ae.Encode()
}

// newEncoder returns an encoder of nfnetlink attributes, which are big
// endian.
func newEncoder() *netlink.AttributeEncoder {
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	return ae
}

// encodeKey encodes the attributes that identify a helper: its name and
// its tuple.
func encodeKey(ae *netlink.AttributeEncoder, name string, l3 L3Proto, l4 uint8) {
	ae.String(nfcthName, name)
	ae.Nested(nfcthTuple, func(nae *netlink.AttributeEncoder) error {
		nae.Uint16(nfcthTupleL3, uint16(l3))
		nae.Uint8(nfcthTupleL4, l4)
		return nil
	})
}

// unmarshalHelper decodes the data of a cthelper NEW message, nfgenmsg
// header included, as the kernel sends it in reply to GET. Unknown
// attributes are ignored, and so is the nested flag, which older kernels
// do not set.
func unmarshalHelper(data []byte) (Helper, error) {
	var h Helper
	if len(data) < nfgenmsgLen {
		return h, fmt.Errorf("message of %d bytes has no nfgenmsg header", len(data))
	}
	ad, err := netlink.NewAttributeDecoder(data[nfgenmsgLen:])
	if err != nil {
		return h, err
	}
	ad.ByteOrder = binary.BigEndian
	for ad.Next() {
		switch ad.Type() {
		case nfcthName:
			h.Name = cString(ad.Bytes())
		case nfcthTuple:
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				for nad.Next() {
					switch nad.Type() {
					case nfcthTupleL3:
						h.L3 = L3Proto(nad.Uint16())
					case nfcthTupleL4:
						h.L4 = nad.Uint8()
					}
				}
				return nil
			})
		case nfcthQueueNum:
			h.QueueNum = ad.Uint32()
		case nfcthPolicy:
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				ps, err := unmarshalPolicies(nad)
				h.Policies = ps
				return err
			})
		case nfcthPrivDataLen:
			h.PrivSize = ad.Uint32()
		case nfcthStatus:
			h.Enabled = ad.Uint32() == statusEnabled
		}
	}
	return h, ad.Err()
}

// unmarshalPolicies decodes the content of NFCTH_POLICY: the number of
// classes and one nest per class, in any order.
func unmarshalPolicies(ad *netlink.AttributeDecoder) ([]Policy, error) {
	var (
		num  uint32
		sets [MaxPolicies]*Policy
	)
	for ad.Next() {
		t := ad.Type()
		switch {
		case t == nfcthPolicySetNum:
			num = ad.Uint32()
		case t > nfcthPolicySetNum && t <= nfcthPolicySetNum+MaxPolicies:
			p := new(Policy)
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				for nad.Next() {
					switch nad.Type() {
					case nfcthPolicyName:
						p.Name = cString(nad.Bytes())
					case nfcthPolicyMax:
						p.MaxExpected = nad.Uint32()
					case nfcthPolicyTimeout:
						p.Timeout = time.Duration(nad.Uint32()) * time.Second
					}
				}
				return nil
			})
			sets[t-nfcthPolicySetNum-1] = p
		}
	}
	if err := ad.Err(); err != nil {
		return nil, err
	}
	if num > MaxPolicies {
		return nil, fmt.Errorf("policy set number %d exceeds %d", num, MaxPolicies)
	}
	var ps []Policy
	for i := range int(num) {
		if sets[i] == nil {
			return nil, fmt.Errorf("policy set number is %d but policy %d is missing", num, i)
		}
		ps = append(ps, *sets[i])
	}
	return ps, nil
}

// cString returns b up to its first NUL byte, as the kernel reads a
// NUL-terminated string attribute.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
