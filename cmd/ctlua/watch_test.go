package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReplayWatch: --watch replays again when the capture changes, and
// runs the helper's tests when they change.
func TestReplayWatch(t *testing.T) {
	bin := buildCtlua(t, t.TempDir())
	dir := filepath.Join(t.TempDir(), "w")
	if out, err := exec.Command(bin, "new", "w", "--dir", dir, "--port", "7000").CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	pcap := filepath.Join(dir, "testdata", "w.pcap")
	cmd := exec.Command(bin, "replay", "--watch", filepath.Join(dir, "helper.lua"), pcap)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	// waitFor waits for a line containing what; change, when not nil, is
	// called at once and again every second until then, each time making
	// a new change: the watcher is armed a moment after "watching".
	waitFor := func(what string, change func(n int)) {
		t.Helper()
		deadline := time.After(30 * time.Second)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		n := 0
		if change != nil {
			change(n)
		}
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("ctlua exited before %q", what)
				}
				if strings.Contains(l, what) {
					return
				}
			case <-tick.C:
				if change != nil {
					n++
					change(n)
				}
			case <-deadline:
				t.Fatalf("no %q within 30s", what)
			}
		}
	}
	waitFor("watching", nil)
	// Another capture: the same protocol, another announced port.
	waitFor("w.pcap changed, replaying", func(n int) {
		b, err := skeletonCapture(skeletonData{Name: "w", L4: "tcp", Port: 7000, DataPort: 40002 + n})
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(pcap, b, 0o644)
	})
	waitFor("1 expectations", nil)
	test := filepath.Join(dir, "helper_test.lua")
	orig, _ := os.ReadFile(test)
	waitFor("helper_test.lua changed, replaying", func(n int) {
		os.WriteFile(test, append(orig, fmt.Sprintf("-- change %d\n", n)...), 0o644)
	})
	waitFor("(3 tests)", nil)
	cmd.Process.Signal(os.Interrupt)
	pw.Close()
}
