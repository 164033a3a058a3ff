package control

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type fakeBackend struct{ reloads []string }

func (f *fakeBackend) Status() Status {
	return Status{Version: "v1", PID: 42, Workers: 2, Helpers: []Helper{{Name: "ftp", Version: 3,
		Counters: Counters{Packets: 7}, QueueCounters: &QueueCounters{Outstanding: 1}}}}
}

func (f *fakeBackend) Reload(helper string) ([]ReloadResult, error) {
	f.reloads = append(f.reloads, helper)
	switch helper {
	case "", "ftp":
		return []ReloadResult{{Helper: "ftp", Loaded: false, Version: 3, Error: "x.lua:2: name: bad"}}, nil
	}
	return nil, errors.New("no helper \"" + helper + "\"")
}

func serve(t *testing.T) (string, *fakeBackend) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run", "ctlua.sock")
	s, err := Listen(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	b := &fakeBackend{}
	s.Serve(b)
	t.Cleanup(func() { s.Close() })
	return path, b
}

func TestStatusAndReload(t *testing.T) {
	path, b := serve(t)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket mode %v, %v; want a socket of mode 0600", fi.Mode(), err)
	}
	st, err := GetStatus(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if st.PID != 42 || len(st.Helpers) != 1 || st.Helpers[0].Counters.Packets != 7 || st.Helpers[0].QueueCounters.Outstanding != 1 {
		t.Errorf("status = %+v", st)
	}
	rs, err := Reload(path, "ftp", time.Second)
	if err != nil || len(rs) != 1 || rs[0].Loaded || rs[0].Error != "x.lua:2: name: bad" {
		t.Errorf("reload = %+v, %v", rs, err)
	}
	if _, err := Reload(path, "nope", time.Second); err == nil || !strings.Contains(err.Error(), `no helper "nope"`) {
		t.Errorf("reload of an unknown helper: %v", err)
	}
	if strings.Join(b.reloads, ",") != "ftp,nope" {
		t.Errorf("backend reloads %q", b.reloads)
	}
}

func TestBadRequests(t *testing.T) {
	path, _ := serve(t)
	tests := []struct{ req, want string }{
		{`{"cmd":"explode"}`, `unknown command \"explode\"`},
		{`not json`, "bad request"},
		{strings.Repeat("x", maxRequest+10), "bad request: want one JSON line"},
	}
	for _, tt := range tests {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte(tt.req + "\n"))
		b := make([]byte, 1024)
		n, _ := c.Read(b)
		c.Close()
		if !strings.Contains(string(b[:n]), tt.want) {
			t.Errorf("%.20s: answer %s, want %q", tt.req, b[:n], tt.want)
		}
	}
}

func TestStaleAndLiveSockets(t *testing.T) {
	path, _ := serve(t)
	if _, err := Listen(path, -1); err == nil || !strings.Contains(err.Error(), "another daemon answers") {
		t.Errorf("second daemon on a live socket: %v", err)
	}
	// A socket file nobody answers on is replaced.
	stale := filepath.Join(t.TempDir(), "stale.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	s, err := Listen(stale, -1)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	s.Close()
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file left after Close: %v", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	if _, err := Listen(file, -1); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("a plain file: %v", err)
	}
	if _, err := GetStatus(filepath.Join(t.TempDir(), "none.sock"), time.Second); err == nil || !strings.Contains(err.Error(), "is the daemon running") {
		t.Errorf("no daemon: %v", err)
	}
}

func TestGroupSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.sock")
	s, err := Listen(path, os.Getgid())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o660 {
		t.Errorf("group socket mode %v, %v; want 0660", fi.Mode(), err)
	}
}

// FuzzAnswer feeds arbitrary request lines to the decoder: every answer
// has exactly one of its fields set.
func FuzzAnswer(f *testing.F) {
	for _, s := range []string{`{"cmd":"status"}`, `{"cmd":"reload","helper":"ftp"}`, `{"cmd":1}`, `[]`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		r := answer(line, &fakeBackend{})
		n := 0
		if r.Status != nil {
			n++
		}
		if r.Reload != nil {
			n++
		}
		if r.Error != "" {
			n++
		}
		if n != 1 {
			t.Fatalf("answer to %q: %+v", line, r)
		}
	})
}
