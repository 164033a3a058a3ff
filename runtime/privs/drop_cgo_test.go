//go:build cgo

package privs

import (
	"errors"
	"os"
	"testing"
)

// A cgo build refuses before it changes anything: half a drop would leave
// threads with root's capabilities.
func TestDropRefusesInACgoBuild(t *testing.T) {
	before, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	err = Drop(Target{Name: "nobody", UID: 65534, GID: 65534}, CapNetAdmin)
	if !errors.Is(err, ErrCgo) {
		t.Fatalf("Drop in a cgo build: %v, want ErrCgo", err)
	}
	after, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	if after != before || os.Geteuid() != before.UID[1] {
		t.Fatalf("Drop changed the process: %+v -> %+v", before, after)
	}
}
