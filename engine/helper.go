package engine

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Limits the kernel puts on helpers (nfnetlink_cthelper).
const (
	MaxNameLen     = 15
	MaxPolicies    = 4
	MaxPrivateSize = 32
	MaxExpected    = 255
)

// A Spec is a helper's declaration: what a script says about itself before
// it sees any packet. Everything in it is validated when the script loads.
type Spec struct {
	// Name is the kernel helper name (at most 15 bytes).
	Name string
	// IPv4 and IPv6 say which L3 protocols the helper serves.
	IPv4, IPv6 bool
	// Proto is the L4 protocol, ProtoTCP or ProtoUDP: the first of Protos.
	Proto uint8
	// Protos are all the L4 protocols the helper serves (declaration
	// `l4 = {"tcp", "udp"}`): one kernel helper is registered per family
	// and protocol, all on the helper's queue. Empty means {Proto}.
	Protos []uint8
	// Ports are the default ports, used to generate rules and by replay.
	Ports []uint16
	// Policies are the expectation classes, at least one and at most four.
	Policies []Policy
	// PrivateSize is the size of the kernel-kept private data, 0 to 32.
	PrivateSize int
	// PayloadOnly says the helper has nothing to do with packets without
	// L4 payload (pure TCP ACKs, SYNs, FINs, empty datagrams): they are
	// accepted without entering Lua (declaration field payload_only).
	PayloadOnly bool
	// Match lists the beginnings of the payloads on_packet is for
	// (declaration field match); others are accepted without a call.
	Match Match
	// Lines turns on the engine's tracking of where lines start in each
	// direction of a TCP connection (declaration field lines,
	// pkt:line_start()). With a Match, on_packet runs only for matching
	// segments that start a line or whose position is not known yet.
	Lines bool
	// DefaultVerdict is applied when the script fails.
	DefaultVerdict Verdict
	// Options are the script's declared options and their default values
	// (booleans, numbers or strings). Configuration may override them.
	Options map[string]any
}

// A Policy is one expectation class of a helper.
type Policy struct {
	Name        string
	MaxExpected uint32
	Timeout     time.Duration
}

// L3Names returns "ipv4", "ipv6" or both.
func (s *Spec) L3Names() []string {
	var n []string
	if s.IPv4 {
		n = append(n, "ipv4")
	}
	if s.IPv6 {
		n = append(n, "ipv6")
	}
	return n
}

// PolicyIndex returns the class of the named policy.
func (s *Spec) PolicyIndex(name string) (int, bool) {
	for i, p := range s.Policies {
		if p.Name == name {
			return i, true
		}
	}
	return 0, false
}

// Serves reports whether the helper handles packets of the given family
// and L4 protocol.
func (s *Spec) Serves(ipv6 bool, proto uint8) bool {
	return slices.Contains(s.L4s(), proto) && ((ipv6 && s.IPv6) || (!ipv6 && s.IPv4))
}

// L4s returns the L4 protocols the helper serves, Proto first.
func (s *Spec) L4s() []uint8 {
	if len(s.Protos) == 0 {
		return []uint8{s.Proto}
	}
	return s.Protos
}

// L4Names returns the names of L4s ("tcp", "udp").
func (s *Spec) L4Names() []string {
	var n []string
	for _, p := range s.L4s() {
		n = append(n, ProtoName(p))
	}
	return n
}

func (s *Spec) String() string {
	return fmt.Sprintf("%s %v/%s ports %v", s.Name, s.L3Names(), strings.Join(s.L4Names(), "+"), s.Ports)
}

// skip reports whether p is accepted without running the helper, and
// counts it: p has no payload and the helper declared payload_only, or
// p's payload is not one the helper's match names. The match of a
// segment whose lines the engine tracks is worker.admit's: that segment's
// end must be recorded even when the helper does not run.
func (h *Helper) skip(p *Packet) bool {
	empty := p.PayloadOff >= len(p.Data)
	switch {
	case empty && h.Spec.PayloadOnly:
	case !h.Spec.Match.Empty() && !tracksLines(h, p) && !h.Spec.Match.wants(p.Dir(), p.Payload()):
	default:
		return false
	}
	h.stats.skipped.Add(1)
	return true
}
