package engine

import (
	"fmt"
	"log/slog"
	"net/netip"
	"time"
)

// A Verdict is the fate of a packet, with the kernel's values (NF_DROP,
// NF_ACCEPT).
type Verdict uint8

// Verdicts.
const (
	Drop   Verdict = 0
	Accept Verdict = 1
)

func (v Verdict) String() string {
	if v == Drop {
		return "drop"
	}
	return "accept"
}

// ParseVerdict parses "accept" or "drop".
func ParseVerdict(s string) (Verdict, error) {
	switch s {
	case "accept":
		return Accept, nil
	case "drop":
		return Drop, nil
	}
	return Accept, fmt.Errorf("verdict must be \"accept\" or \"drop\", got %q", s)
}

// A Decision is the engine's answer for one packet. Every packet gets
// exactly one.
type Decision struct {
	Verdict Verdict
	// Expectations to create for the packet's connection, in order.
	Expectations []Expectation
	// Packet is the rewritten IP packet, with lengths and checksums fixed,
	// or nil when the packet is unchanged.
	Packet []byte
	// Update holds the conntrack changes the script asked for.
	Update CTUpdate
	// Logs are the records the script logged while handling the packet.
	Logs []LogRecord
	// Err is set when the script failed and the default verdict was
	// applied. It is a *ScriptError.
	Err error
	// Took is how long Handle took for the packet, waiting for its
	// worker included (the latency Stats report).
	Took time.Duration
}

// CTUpdate is the set of conntrack fields a script changed. Only what
// changed is sent back to the kernel.
type CTUpdate struct {
	// Private is the new helper private data, when PrivateSet.
	Private    []byte
	PrivateSet bool
	Mark       uint32
	MarkSet    bool
	// Timeout is the new timeout in seconds, when TimeoutSet.
	Timeout    uint32
	TimeoutSet bool
	// Labels and LabelsMask are the new connlabels (16 bytes each), when
	// LabelsSet.
	Labels, LabelsMask []byte
	LabelsSet          bool
}

// IsZero reports whether nothing changed.
func (u *CTUpdate) IsZero() bool {
	return !u.PrivateSet && !u.MarkSet && !u.TimeoutSet && !u.LabelsSet
}

// ExpectFlags are the kernel's NF_CT_EXPECT_* flags.
type ExpectFlags uint32

// Expectation flags.
const (
	ExpectPermanent ExpectFlags = 1 << 0
	ExpectInactive  ExpectFlags = 1 << 1
)

// An Expectation announces a connection the kernel should treat as RELATED
// to the packet's connection. A zero address or port in Mask is a wildcard.
type Expectation struct {
	Tuple, Mask Tuple
	// Class is the index of the helper policy (expectation class) and
	// Policy its name.
	Class  uint32
	Policy string
	Flags  ExpectFlags
	// Helper is the helper to attach to the expected connection, if any.
	Helper string
	// NAT, when set, makes the expected connection follow the master's NAT
	// (Fn "nat-follow-master"), with the saved address and port the kernel
	// needs to translate it back.
	NAT *ExpectNAT
	Fn  string
}

// ExpectNAT is the NAT part of an expectation (CTA_EXPECT_NAT).
type ExpectNAT struct {
	Dir Direction
	// Tuple carries the saved address and port in its source fields.
	Tuple Tuple
}

// Matches reports whether t falls under the expectation's tuple and mask.
func (e *Expectation) Matches(t Tuple) bool {
	return t.Proto == e.Tuple.Proto &&
		maskedEqual(t.Src, e.Tuple.Src, e.Mask.Src) &&
		maskedEqual(t.Dst, e.Tuple.Dst, e.Mask.Dst) &&
		t.SrcPort&e.Mask.SrcPort == e.Tuple.SrcPort&e.Mask.SrcPort &&
		t.DstPort&e.Mask.DstPort == e.Tuple.DstPort&e.Mask.DstPort
}

func maskedEqual(a, b, mask netip.Addr) bool {
	if !mask.IsValid() {
		return true
	}
	x, y, m := a.As16(), b.As16(), mask.As16()
	if mask.Is4() {
		x, y = a.Unmap().As16(), b.Unmap().As16()
	}
	for i := range m {
		if x[i]&m[i] != y[i]&m[i] {
			return false
		}
	}
	return true
}

func (e *Expectation) String() string {
	s := fmt.Sprintf("%s %s -> %s mask %s/%d -> %s/%d policy %s",
		ProtoName(e.Tuple.Proto), portOrAny(e.Tuple.Src, e.Tuple.SrcPort, e.Mask.SrcPort),
		portOrAny(e.Tuple.Dst, e.Tuple.DstPort, e.Mask.DstPort),
		e.Mask.Src, e.Mask.SrcPort, e.Mask.Dst, e.Mask.DstPort, e.Policy)
	if e.NAT != nil {
		s += fmt.Sprintf(" nat %s saved %s", e.NAT.Dir, netip.AddrPortFrom(e.NAT.Tuple.Src, e.NAT.Tuple.SrcPort))
	}
	return s
}

func portOrAny(a netip.Addr, p, mask uint16) string {
	if mask == 0 {
		return a.String() + ":*"
	}
	return netip.AddrPortFrom(a, p).String()
}

// A LogRecord is one message a script logged.
type LogRecord struct {
	Level   slog.Level
	Message string
	Attrs   []slog.Attr
}
