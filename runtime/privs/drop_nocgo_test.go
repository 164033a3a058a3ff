//go:build !cgo

package privs

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestDrop switches a child process (this test binary again) from root to
// nobody and checks every thread's credentials there: run as root with
// CGO_ENABLED=0 go test ./runtime/privs (the VM test tests/e2e/operate.sh
// checks the daemon the same way).
func TestDrop(t *testing.T) {
	if os.Getenv("CTLUA_PRIVS_CHILD") == "1" {
		dropChild()
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("switching users needs root; as root this test runs (CGO_ENABLED=0 go test ./runtime/privs)")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDrop$")
	cmd.Env = append(os.Environ(), "CTLUA_PRIVS_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "dropped:") {
		t.Fatalf("child: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

func dropChild() {
	u, err := LookupUser("nobody")
	if err == nil {
		err = Drop(u, CapNetAdmin)
	}
	if err != nil {
		fmt.Println("drop failed:", err)
		os.Exit(1)
	}
	ts, err := Threads()
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	for _, th := range ts {
		if th.Effective != 1<<CapNetAdmin || th.UID[1] != u.UID {
			fmt.Printf("thread %d: %+v\n", th.TID, th)
			os.Exit(1)
		}
	}
	if err := Require(CapSetUID, "x"); err == nil {
		fmt.Println("still holds CAP_SETUID")
		os.Exit(1)
	}
	fmt.Printf("dropped: %d threads run as uid %d with only %s\n", len(ts), u.UID, Set(1<<CapNetAdmin))
}
