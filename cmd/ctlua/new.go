package main

import (
	"bytes"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"text/template"
	"time"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/engine/enginetest"
	"github.com/ctlua/ctlua/runtime/daemon"
	"github.com/ctlua/ctlua/runtime/replay"
	"github.com/ctlua/ctlua/types"
)

const newSynopsis = "new NAME --l4 tcp|udp --port N [--dir DIR]: create a helper skeleton (helper, a passing test, README, a generated capture, editor definitions) in DIR (default NAME)"

//go:embed skeleton/*.tmpl
var skeleton embed.FS

// helperName is what ctlua new accepts as a helper name: it becomes the
// kernel helper's name (at most 15 bytes) and the policy's.
var helperName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,14}$`)

// skeletonData fills the skeleton templates.
type skeletonData struct {
	Name, L4, Dir  string
	Port, DataPort int
	// Rules are the nftables rules attaching the helper, as ctlua rules
	// prints them.
	Rules string
}

func cmdNew(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("new")
	l4 := fs.String("l4", "tcp", "transport protocol: tcp or udp")
	port := fs.Int("port", 0, "the protocol's server port (required)")
	dir := fs.String("dir", "", "directory to create (default: NAME)")
	pos, status, done := parseArgs(fs, newSynopsis, args, stdout, stderr)
	if done {
		return status
	}
	switch {
	case len(pos) != 1:
		return usageError(stderr, fs, newSynopsis, "want one NAME, got %d arguments", len(pos))
	case !helperName.MatchString(pos[0]):
		return usageError(stderr, fs, newSynopsis, "name %q: want 1..15 lower-case letters, digits, '-' or '_', starting with a letter (it becomes the kernel helper's name)", pos[0])
	case *l4 != "tcp" && *l4 != "udp":
		return usageError(stderr, fs, newSynopsis, "--l4 %q: want tcp or udp", *l4)
	case *port < 1 || *port > 65535:
		return usageError(stderr, fs, newSynopsis, "--port: required, a port number 1..65535")
	}
	d := skeletonData{Name: pos[0], L4: *l4, Port: *port, DataPort: 40001, Dir: *dir}
	if d.Dir == "" {
		d.Dir = d.Name
	}
	if d.DataPort == d.Port {
		d.DataPort++
	}
	if _, err := os.Stat(d.Dir); err == nil {
		fmt.Fprintf(stderr, "ctlua new: %s already exists: choose another --dir\n", d.Dir)
		return exitFailed
	}
	files, err := skeletonFiles(d)
	if err != nil {
		fmt.Fprintln(stderr, "ctlua new:", err)
		return exitFailed
	}
	for _, f := range files {
		p := filepath.Join(d.Dir, f.name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
			err = os.WriteFile(p, f.data, 0o644)
		}
		if err != nil {
			fmt.Fprintln(stderr, "ctlua new:", err)
			return exitFailed
		}
		fmt.Fprintf(stdout, "created %s\n", p)
	}
	fmt.Fprintf(stdout, "\nnext:\n  cd %s\n  ctlua test\n  ctlua replay --expect 1 helper.lua testdata/%s.pcap\n", d.Dir, d.Name)
	return exitOK
}

type newFile struct {
	name string
	data []byte
}

// skeletonFiles renders the files of a new helper.
func skeletonFiles(d skeletonData) ([]newFile, error) {
	var out []newFile
	for _, name := range []string{"helper.lua", "helper_test.lua", "README.md"} {
		t, err := template.ParseFS(skeleton, "skeleton/"+name+".tmpl")
		if err != nil {
			return nil, err
		}
		var b bytes.Buffer
		if err := t.Execute(&b, d); err != nil {
			return nil, err
		}
		out = append(out, newFile{name, b.Bytes()})
		if name == "helper.lua" {
			if d.Rules, err = skeletonRules(b.Bytes()); err != nil {
				return nil, err
			}
		}
	}
	pcap, err := skeletonCapture(d)
	if err != nil {
		return nil, err
	}
	out = append(out, newFile{"testdata/" + d.Name + ".pcap", pcap})
	defs, _ := fs.Glob(types.FS, "*.d.lua")
	for _, f := range defs {
		b, err := fs.ReadFile(types.FS, f)
		if err != nil {
			return nil, err
		}
		out = append(out, newFile{".ctlua/types/" + f, b})
	}
	out = append(out, newFile{".luarc.json", []byte(luarc)})
	return out, nil
}

// skeletonRules returns the nftables rules of the rendered helper.
func skeletonRules(src []byte) (string, error) {
	e, err := engine.New(engine.Config{Workers: 1, Modules: modules()})
	if err != nil {
		return "", err
	}
	defer e.Close()
	h, err := e.Check("helper.lua", src, nil)
	if err != nil {
		return "", fmt.Errorf("the skeleton does not load: %w", err)
	}
	var b bytes.Buffer
	r := daemon.Rule{Spec: h.Spec, IPv4: h.Spec.IPv4, IPv6: h.Spec.IPv6, Ports: h.Spec.Ports}
	if err := daemon.WriteNFT(&b, []daemon.Rule{r}); err != nil {
		return "", err
	}
	return b.String(), nil
}

// luarc points lua-language-server at the definitions and at the Lua
// version ctlua runs (gopher-lua: Lua 5.1).
const luarc = `{
  "$schema": "https://raw.githubusercontent.com/LuaLS/vscode-lua/master/setting/schema.json",
  "runtime.version": "Lua 5.1",
  "workspace.library": [".ctlua/types"],
  "diagnostics.globals": ["print"]
}
`

// skeletonCapture builds a tiny capture of the skeleton's protocol: the
// client opens the control connection, sends "OPEN <port>", and the
// server's flow to that port follows.
func skeletonCapture(d skeletonData) ([]byte, error) {
	const client, server = "192.0.2.1", "192.0.2.2"
	open := fmt.Sprintf("OPEN %d\r\n", d.DataPort)
	port, data := uint16(d.Port), uint16(d.DataPort)
	var segs []enginetest.Segment
	if d.L4 == "udp" {
		u := engine.ProtoUDP
		segs = []enginetest.Segment{
			{Src: client, Dst: server, Proto: u, SrcPort: 40000, DstPort: port, Payload: open},
			{Src: server, Dst: client, Proto: u, SrcPort: port, DstPort: 40000, Payload: "OK\r\n"},
			{Src: server, Dst: client, Proto: u, SrcPort: 30000, DstPort: data, Payload: "data"},
			{Src: client, Dst: server, Proto: u, SrcPort: data, DstPort: 30000, Payload: "ack"},
		}
	} else {
		syn, synack := engine.TCPSyn, engine.TCPSyn|engine.TCPAck
		segs = []enginetest.Segment{
			{Src: client, Dst: server, SrcPort: 40000, DstPort: port, Seq: 1000, Flags: syn},
			{Src: server, Dst: client, SrcPort: port, DstPort: 40000, Seq: 5000, Ack: 1001, Flags: synack},
			{Src: client, Dst: server, SrcPort: 40000, DstPort: port, Seq: 1001, Ack: 5001},
			{Src: client, Dst: server, SrcPort: 40000, DstPort: port, Seq: 1001, Ack: 5001, Payload: open},
			{Src: server, Dst: client, SrcPort: port, DstPort: 40000, Seq: 5001, Ack: 1001 + uint32(len(open))},
			{Src: server, Dst: client, SrcPort: 30000, DstPort: data, Seq: 9000, Flags: syn},
			{Src: client, Dst: server, SrcPort: data, DstPort: 30000, Seq: 7000, Ack: 9001, Flags: synack},
		}
	}
	var b bytes.Buffer
	w, err := replay.NewPcapWriter(&b)
	if err != nil {
		return nil, err
	}
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, s := range segs {
		if err := w.Write(ts.Add(time.Duration(i)*10*time.Millisecond), s.Build()); err != nil {
			return nil, err
		}
	}
	return b.Bytes(), nil
}
