package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
)

var (
	buildOnce sync.Once
	built     string // the binary built once for the package's tests
	buildErr  error
)

// TestMain removes the binary the tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if built != "" {
		os.RemoveAll(filepath.Dir(built))
	}
	os.Exit(code)
}

// buildCtlua copies the ctlua command, built once, into dir and returns
// its path.
func buildCtlua(t *testing.T, dir string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the ctlua binary")
	}
	buildOnce.Do(func() {
		tmp, err := os.MkdirTemp("", "ctlua-bin")
		if err != nil {
			buildErr = err
			return
		}
		built = filepath.Join(tmp, "ctlua")
		if out, err := exec.Command("go", "build", "-o", built, ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	b, err := os.ReadFile(built)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "ctlua")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// A user is a shell in a directory outside the clone, with ctlua on a
// PATH that has no Go toolchain, and, when the tests run as root, the
// user "nobody".
type user struct {
	t    *testing.T
	path string
	dir  string
	cred *syscall.Credential
}

func newUser(t *testing.T) *user {
	binDir, home := t.TempDir(), t.TempDir()
	buildCtlua(t, binDir)
	path := binDir + ":/usr/bin:/bin"
	for _, d := range filepath.SplitList(path) {
		if _, err := os.Stat(filepath.Join(d, "go")); err == nil {
			t.Skipf("%s has a go command: cannot show ctlua working without one", d)
		}
	}
	u := &user{t: t, path: path, dir: home}
	if os.Geteuid() == 0 && runtime.GOOS == "linux" {
		u.cred = &syscall.Credential{Uid: 65534, Gid: 65534}
		for _, d := range []string{binDir, home, filepath.Dir(binDir)} {
			os.Chmod(d, 0o777)
		}
		os.Chown(home, 65534, 65534)
	}
	return u
}

// run runs a ctlua command line in the user's current directory.
func (u *user) run(args ...string) (string, int) {
	u.t.Helper()
	lp, err := lookPath("ctlua", u.path) // as the user's shell finds it
	if err != nil {
		u.t.Fatal(err)
	}
	cmd := exec.Command(lp, args...)
	cmd.Dir = u.dir
	cmd.Env = []string{"PATH=" + u.path, "HOME=" + u.dir}
	if u.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: u.cred}
	}
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		u.t.Fatalf("ctlua %s: %v", strings.Join(args, " "), err)
	}
	return string(out), 0
}

// lookPath finds a command on an explicit PATH.
func lookPath(name, path string) (string, error) {
	for _, d := range filepath.SplitList(path) {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", &exec.Error{Name: name, Err: exec.ErrNotFound}
}

// edit rewrites a file of the user's: old must occur.
func (u *user) edit(file, old, new string) {
	u.t.Helper()
	p := filepath.Join(u.dir, file)
	b, err := os.ReadFile(p)
	if err != nil || !strings.Contains(string(b), old) {
		u.t.Fatalf("%s lacks %q (%v)", file, old, err)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		u.t.Fatal(err)
	}
}

// TestOutsideTheTree is issue 10's "done when": in a fresh directory
// outside the clone, with no Go toolchain and no root, a user creates a
// helper, edits it, and tests, checks and replays it.
func TestOutsideTheTree(t *testing.T) {
	u := newUser(t)
	if out, st := u.run("new", "acme", "--l4", "tcp", "--port", "7000"); st != 0 {
		t.Fatalf("ctlua new: %d\n%s", st, out)
	}
	u.dir = filepath.Join(u.dir, "acme")
	if fi, err := os.Stat(filepath.Join(u.dir, "helper.lua")); err != nil {
		t.Fatal(err)
	} else if st, ok := fi.Sys().(*syscall.Stat_t); ok && u.cred != nil && st.Uid != u.cred.Uid {
		t.Fatalf("helper.lua owned by uid %d: ctlua did not run as nobody", st.Uid)
	}
	steps := []struct {
		args   []string
		status int
		want   string
	}{
		{[]string{"test"}, 0, "ok  \thelper_test.lua"},
		{[]string{"check", "helper.lua"}, 0, "helper acme"},
		{[]string{"replay", "--expect", "1", "helper.lua", "testdata/acme.pcap"}, 0, "1 expectations, 1 related connections"},
	}
	check := func(when string) {
		for _, s := range steps {
			out, st := u.run(s.args...)
			if st != s.status || !strings.Contains(out, s.want) {
				t.Errorf("%s: ctlua %s: status %d (want %d), output lacks %q:\n%s", when, strings.Join(s.args, " "), st, s.status, s.want, out)
			}
		}
	}
	check("as generated")
	// The user makes it theirs: a command of their protocol, logged.
	u.edit("helper.lua", `local COMMAND = "OPEN "`, `local COMMAND = "MEDIA "`)
	u.edit("helper.lua", `  local there = conn:tuple("reply")`, `  log.debug("media flow", { port = port })
  local there = conn:tuple("reply")`)
	out, st := u.run("test")
	if st != 1 || !strings.Contains(out, "--- FAIL: Test_open_expects_the_data_flow (helper_test.lua:") {
		t.Errorf("the tests must fail until they follow the edit: %d\n%s", st, out)
	}
	u.edit("helper_test.lua", `c:send("original", "OPEN 40001\r\n")`, `c:send("original", "MEDIA 40001\r\n")`)
	u.edit("helper_test.lua", `"OPEN x\r\n", "OPEN 70000\r\n"`, `"MEDIA x\r\n", "MEDIA 70000\r\n", "OPEN 40001\r\n"`)
	steps[2] = struct {
		args   []string
		status int
		want   string
	}{[]string{"replay", "--expect", "1", "helper.lua", "testdata/acme.pcap"}, 1, "FAIL: 0 expectations, --expect 1"}
	check("after the edit (the generated capture speaks OPEN)")
	if out, st := u.run("replay", "--expect", "0", "helper.lua", "testdata/acme.pcap"); st != 0 {
		t.Errorf("replay --expect 0: %d\n%s", st, out)
	}
}
