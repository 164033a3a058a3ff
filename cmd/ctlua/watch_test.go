package main

import (
	"bufio"
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
	waitFor := func(what string) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("ctlua exited before %q", what)
				}
				if strings.Contains(l, what) {
					return
				}
			case <-deadline:
				t.Fatalf("no %q within 20s", what)
			}
		}
	}
	waitFor("watching")
	// Another capture: the same protocol, another announced port.
	b, err := skeletonCapture(skeletonData{Name: "w", L4: "tcp", Port: 7000, DataPort: 40002})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(pcap, b, 0o644)
	waitFor("w.pcap changed, replaying")
	waitFor("-> 192.0.2.1:40002")
	waitFor("1 expectations")
	test := filepath.Join(dir, "helper_test.lua")
	b, _ = os.ReadFile(test)
	os.WriteFile(test, append(b, "-- changed\n"...), 0o644)
	waitFor("helper_test.lua changed, replaying")
	waitFor("(3 tests)")
	cmd.Process.Signal(os.Interrupt)
	pw.Close()
}
