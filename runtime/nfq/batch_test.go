package nfq

import (
	"encoding/binary"
	"slices"
	"testing"

	"github.com/ctlua/ctlua/engine"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

func TestBatchAccepts(t *testing.T) {
	accept := func(id uint32) []byte { return appendVerdict(nil, 7, unix.AF_INET, id, engine.Accept) }
	drop := func(id uint32) []byte { return appendVerdict(nil, 7, unix.AF_INET, id, engine.Drop) }
	batch := func(id uint32) []byte {
		b := accept(id)
		binary.NativeEndian.PutUint16(b[4:], subsysQueue<<8|msgVerdictBatch)
		return b
	}
	withCT := appendMessage(nil, mustVerdict(t, 5)) // a verdict that carries more
	cat := func(ms ...[]byte) []byte { return slices.Concat(ms...) }
	tests := []struct {
		name     string
		in, want []byte
	}{
		{"one accept stays", accept(1), accept(1)},
		{"a run becomes one batch", cat(accept(1), accept(2), accept(3)), batch(3)},
		{"gaps in the IDs are fine", cat(accept(1), accept(5)), batch(5)},
		{"IDs wrap", cat(accept(0xffffffff), accept(0), accept(1)), batch(1)},
		{"the run ends at a drop", cat(accept(1), accept(2), drop(3), accept(4), accept(5)), cat(batch(2), drop(3), accept(4), accept(5))},
		{"a drop first: no run", cat(drop(1), accept(2), accept(3)), cat(drop(1), accept(2), accept(3))},
		{"the run ends at a verdict with more", cat(accept(1), accept(2), withCT, accept(6)), cat(batch(2), withCT, accept(6))},
		{"IDs going back end the run", cat(accept(5), accept(6), accept(2)), cat(batch(6), accept(2))},
		{"a repeated ID ends the run", cat(accept(5), accept(5)), cat(accept(5), accept(5))},
		{"empty", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := batchAccepts(slices.Clone(tt.in))
			if !slices.Equal(got, tt.want) {
				t.Errorf("batchAccepts:\n got  % x\n want % x", got, tt.want)
			}
		})
	}
}

func mustVerdict(t *testing.T, id uint32) netlink.Message {
	t.Helper()
	d := engine.Decision{Verdict: engine.Accept, Update: engine.CTUpdate{Mark: 1, MarkSet: true}}
	m, err := verdictMessage(7, unix.AF_INET, id, "ftp", &d, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
