package engine

import (
	"errors"
	"net/netip"
	"testing"
)

func exp4(src string, srcMask string, dst string, dport uint16) Expectation {
	return Expectation{
		Tuple: Tuple{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), Proto: ProtoTCP, DstPort: dport},
		Mask:  Tuple{Src: netip.MustParseAddr(srcMask), Dst: netip.MustParseAddr("255.255.255.255"), DstPort: 0xffff, Proto: 0xff},
	}
}

func TestExpectationClashes(t *testing.T) {
	base := exp4("192.0.2.2", "255.255.255.255", "198.51.100.1", 5000)
	tests := []struct {
		name string
		o    Expectation
		want bool
	}{
		{"same tuple", exp4("192.0.2.2", "255.255.255.255", "198.51.100.1", 5000), true},
		{"other port", exp4("192.0.2.2", "255.255.255.255", "198.51.100.1", 5001), false},
		{"other destination", exp4("192.0.2.2", "255.255.255.255", "198.51.100.2", 5000), false},
		{"other source, both masks full", exp4("192.0.2.3", "255.255.255.255", "198.51.100.1", 5000), false},
		{"other source, one side wildcard", exp4("192.0.2.3", "0.0.0.0", "198.51.100.1", 5000), true},
		{"other source within both masks' common part", exp4("192.0.2.3", "255.255.255.0", "198.51.100.1", 5000), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := base.Clashes(&tt.o); got != tt.want {
				t.Errorf("Clashes = %v, want %v", got, tt.want)
			}
			if got := tt.o.Clashes(&base); got != tt.want {
				t.Errorf("Clashes is not symmetric: %v", got)
			}
		})
	}
}

// takenPorts refuses the ports it holds, like a kernel where other
// connections expect them.
type takenPorts struct {
	taken map[uint16]bool
	tries []uint16
	err   error
}

func (x *takenPorts) Expect(_ *Conn, e *Expectation) error {
	x.tries = append(x.tries, e.Tuple.DstPort)
	if x.err != nil {
		return x.err
	}
	if x.taken[e.Tuple.DstPort] {
		return ErrExpectClash
	}
	return nil
}

func TestHuntPort(t *testing.T) {
	master := &Conn{ID: 7, Orig: Tuple{SrcPort: 40000}}
	t.Run("free port is kept", func(t *testing.T) {
		x := &takenPorts{}
		e := exp4("192.0.2.2", "255.255.255.255", "198.51.100.1", 5000)
		if p, err := HuntPort(x, master, &e); err != nil || p != 5000 || len(x.tries) != 1 {
			t.Fatalf("HuntPort = %d, %v after %v; want 5000 at the first try", p, err, x.tries)
		}
	})
	t.Run("taken port moves up", func(t *testing.T) {
		x := &takenPorts{taken: map[uint16]bool{5000: true}}
		e := exp4("192.0.2.2", "255.255.255.255", "198.51.100.1", 5000)
		p, err := HuntPort(x, master, &e)
		if err != nil || p <= 5000 || e.Tuple.DstPort != p {
			t.Fatalf("HuntPort = %d, %v (tuple port %d); want a port above 5000 in the tuple", p, err, e.Tuple.DstPort)
		}
		again := exp4("192.0.2.2", "255.255.255.255", "198.51.100.1", 5000)
		if q, _ := HuntPort(&takenPorts{taken: map[uint16]bool{5000: true}}, master, &again); q != p {
			t.Errorf("a second hunt picked %d, want the same port %d (seeded draw)", q, p)
		}
	})
	t.Run("all ports taken", func(t *testing.T) {
		x := &takenPorts{taken: map[uint16]bool{}}
		for p := 65000; p <= 65535; p++ {
			x.taken[uint16(p)] = true
		}
		e := exp4("192.0.2.2", "255.255.255.255", "198.51.100.1", 65000)
		_, err := HuntPort(x, master, &e)
		if !errors.Is(err, ErrExpectClash) || len(x.tries) != 129 {
			t.Fatalf("err %v after %d tries; want ErrExpectClash after 129 (the kernel's bound)", err, len(x.tries))
		}
	})
	t.Run("other errors stop the hunt", func(t *testing.T) {
		x := &takenPorts{err: errors.New("EMFILE")}
		e := exp4("192.0.2.2", "255.255.255.255", "198.51.100.1", 5000)
		if _, err := HuntPort(x, master, &e); err == nil || len(x.tries) != 1 {
			t.Fatalf("err %v after %d tries; want the error after one", err, len(x.tries))
		}
	})
	t.Run("needs a port", func(t *testing.T) {
		e := exp4("192.0.2.2", "255.255.255.255", "198.51.100.1", 5000)
		e.Mask.DstPort = 0
		if _, err := HuntPort(&takenPorts{}, master, &e); err == nil {
			t.Fatal("hunting without a destination port worked")
		}
	})
}
