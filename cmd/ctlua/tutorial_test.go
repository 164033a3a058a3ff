package main

import (
	"bufio"
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/engine/enginetest"
	"github.com/ctlua/ctlua/runtime/replay"
)

var update = flag.Bool("update", false, "rewrite docs/tutorial/acme-console.pcap")

const tutorialCapture = "../../docs/tutorial/acme-console.pcap"

// acmeConsole builds the tutorial's capture: an ACME control connection
// with a HEARTBEAT, a MEDIA_OPEN for UDP port 40001 and its OPEN_OK, then
// the media flow.
func acmeConsole(t *testing.T) []byte {
	const client, server = "192.0.2.10", "198.51.100.7"
	open := "\xac\x4d\x01\x00\x9c\x41\x00\x2a"
	syn, synack, u := engine.TCPSyn, engine.TCPSyn|engine.TCPAck, engine.ProtoUDP
	segs := []enginetest.Segment{
		{Src: client, Dst: server, SrcPort: 51000, DstPort: 7000, Seq: 100, Flags: syn},
		{Src: server, Dst: client, SrcPort: 7000, DstPort: 51000, Seq: 900, Ack: 101, Flags: synack},
		{Src: client, Dst: server, SrcPort: 51000, DstPort: 7000, Seq: 101, Ack: 901},
		{Src: client, Dst: server, SrcPort: 51000, DstPort: 7000, Seq: 101, Ack: 901, Payload: "\xac\x4d\x02\x00"},
		{Src: client, Dst: server, SrcPort: 51000, DstPort: 7000, Seq: 105, Ack: 901, Payload: open},
		{Src: server, Dst: client, SrcPort: 7000, DstPort: 51000, Seq: 901, Ack: 113, Payload: "\xac\x4d\x81\x00\x00\x2a"},
		{Src: server, Dst: client, Proto: u, SrcPort: 5004, DstPort: 40001, Payload: "\x80\x60\x00\x01media"},
		{Src: server, Dst: client, Proto: u, SrcPort: 5004, DstPort: 40001, Payload: "\x80\x60\x00\x02media"},
	}
	var b bytes.Buffer
	w, err := replay.NewPcapWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	for i, s := range segs {
		if err := w.Write(ts.Add(time.Duration(i)*20*time.Millisecond), s.Build()); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// TestTutorialCapture keeps the committed capture what acmeConsole builds.
func TestTutorialCapture(t *testing.T) {
	want := acmeConsole(t)
	if *update {
		if err := os.WriteFile(tutorialCapture, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(tutorialCapture)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s is stale (%v): go test ./cmd/ctlua -run TutorialCapture -update", tutorialCapture, err)
	}
}

// TestTutorial runs docs/tutorial.md as a new user would: every command
// of its sh blocks (but the vm-only one) in a fresh directory, with no Go
// toolchain and no root, and the files of its "file=NAME" blocks written
// where the user is.
func TestTutorial(t *testing.T) {
	u := newUser(t)
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(root, "docs/tutorial.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var info, body string
	inBlock, commands, files, vmOnly := false, 0, 0, 0
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		switch {
		case !inBlock && strings.HasPrefix(l, "```") && len(l) > 3:
			inBlock, info, body = true, strings.TrimPrefix(l, "```"), ""
		case inBlock && l == "```":
			inBlock = false
			switch {
			case info == "sh vm-only":
				vmOnly++
			case info == "sh":
				commands += u.runBlock(t, root, n, body)
			case strings.Contains(info, " file="):
				name := info[strings.Index(info, "file=")+5:]
				if err := os.WriteFile(filepath.Join(u.dir, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
				files++
			}
		case inBlock:
			body += l + "\n"
		}
	}
	if commands < 10 || files != 3 || vmOnly != 1 {
		t.Errorf("the tutorial has %d commands, %d files, %d vm-only blocks: want >= 10, 3, 1", commands, files, vmOnly)
	}
}

// runBlock runs the commands of one sh block and returns how many ran.
func (u *user) runBlock(t *testing.T, root string, line int, body string) int {
	n := 0
	for _, cmd := range strings.Split(body, "\n") {
		cmd = strings.TrimSpace(cmd)
		if cmd == "" || strings.HasPrefix(cmd, "#") {
			continue
		}
		n++
		args := strings.Fields(cmd)
		switch args[0] {
		case "cd":
			u.dir = filepath.Join(u.dir, args[1])
		case "cp":
			src := strings.Replace(args[1], "CTLUA/", root+"/", 1)
			b, err := os.ReadFile(src)
			if err == nil {
				err = os.WriteFile(filepath.Join(u.dir, args[2], filepath.Base(src)), b, 0o644)
			}
			if err != nil {
				t.Fatalf("tutorial.md:%d: %s: %v", line, cmd, err)
			}
		case "ctlua":
			out, st := u.run(args[1:]...)
			if st != 0 {
				t.Errorf("tutorial.md:%d: %s: status %d\n%s", line, cmd, st, out)
			}
		default:
			t.Errorf("tutorial.md:%d: %q: the test runs only ctlua, cd and cp", line, cmd)
		}
	}
	return n
}
