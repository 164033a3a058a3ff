package engine

import (
	"errors"
	"fmt"
	"math/rand/v2"
)

// ErrExpectClash is wrapped by an Expecter that refuses an expectation
// because another connection's expectation covers the same connections
// (the kernel's EBUSY).
var ErrExpectClash = errors.New("another connection's expectation holds the tuple")

// An Expecter inserts expectations at once and says whether they were
// accepted, for scripts that must know before they answer: under NAT, the
// port written into a rewritten command must be one the expectation got
// (see HuntPort). The daemon implements it over ctnetlink, the replay with
// its simulated table. Expectations a Decision carries go their usual way.
type Expecter interface {
	// Expect inserts e for the connection master, like the kernel's
	// nf_ct_expect_related: an equal expectation of the same master is
	// replaced, one that clashes with another master's is refused with an
	// error wrapping ErrExpectClash.
	Expect(master *Conn, e *Expectation) error
}

// Clashes reports whether e and o would catch the same connections: the
// kernel's expect_clash, where the destinations are equal and the sources
// are equal as far as both masks look.
func (e *Expectation) Clashes(o *Expectation) bool {
	if e.Tuple.Proto != o.Tuple.Proto || e.Tuple.Dst != o.Tuple.Dst || e.Tuple.DstPort != o.Tuple.DstPort {
		return false
	}
	both := e.Mask.SrcPort & o.Mask.SrcPort
	if e.Tuple.SrcPort&both != o.Tuple.SrcPort&both {
		return false
	}
	if !e.Mask.Src.IsValid() || !o.Mask.Src.IsValid() {
		return true
	}
	a, b := e.Tuple.Src.As16(), o.Tuple.Src.As16()
	ma, mb := e.Mask.Src.As16(), o.Mask.Src.As16()
	if e.Tuple.Src.Is4() {
		a, b = e.Tuple.Src.Unmap().As16(), o.Tuple.Src.Unmap().As16()
	}
	for i := range a {
		if m := ma[i] & mb[i]; a[i]&m != b[i]&m {
			return false
		}
	}
	return true
}

// maxHuntAttempts is the kernel's bound on port hunting
// (nf_nat_exp_find_port): after the first port, at most 128 others.
const maxHuntAttempts = 128

// HuntPort inserts e through x the way the kernel's NAT helpers find a
// port for an expectation (nf_nat_exp_find_port): with e's destination
// port first and, while another connection's expectation holds it, with
// up to 128 other ports drawn at random between it and 65535. It returns
// the port that was accepted, which e's destination port is then set to.
// The draw is seeded by the master and the port, so a replay of the same
// capture picks the same ports.
func HuntPort(x Expecter, master *Conn, e *Expectation) (uint16, error) {
	port, _, err := huntPort(x, master, e)
	return port, err
}

// huntPort is HuntPort; it also returns how many ports were held by
// another connection's expectation.
func huntPort(x Expecter, master *Conn, e *Expectation) (port uint16, clashes int, err error) {
	if e.Mask.DstPort != 0xffff {
		return 0, 0, errors.New("port hunting needs an expectation with a destination port")
	}
	first := e.Tuple.DstPort
	span := 65535 - int(first)
	attempts := min(span, maxHuntAttempts)
	r := rand.New(rand.NewPCG(uint64(master.ID), uint64(first)<<32|uint64(master.Orig.SrcPort)))
	port = first
	for {
		e.Tuple.DstPort = port
		err := x.Expect(master, e)
		if err == nil {
			return port, clashes, nil
		}
		if !errors.Is(err, ErrExpectClash) {
			return 0, clashes, err
		}
		clashes++
		if attempts == 0 {
			return 0, clashes, fmt.Errorf("no free port from %d (%d tried): %w", first, min(span, maxHuntAttempts)+1, err)
		}
		attempts--
		port = first + uint16(r.IntN(span))
	}
}
