// Package privs reads and drops the daemon's privileges: the Linux
// capability sets of every thread of the process, a check that names the
// capability a step needs, and the switch from root to an unprivileged
// user that keeps only the capabilities asked for.
//
// Capabilities, keep-caps and the bounding set are per thread in Linux,
// and a Go program runs on many threads it does not choose. Every change
// here therefore goes through syscall.AllThreadsSyscall (or the syscall
// package's Setuid family, which does the same), so that no thread keeps
// root's capabilities; [Drop] then reads /proc/self/task/*/status to prove
// it. AllThreadsSyscall is not available in a program linked with cgo: such
// a build cannot drop privileges in process and [Drop] says so.
package privs

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// A Cap is a Linux capability number (capability(7)).
type Cap uint

// The capabilities ctlua deals with.
const (
	CapNetAdmin Cap = 12 // CAP_NET_ADMIN
	CapSetPCap  Cap = 8  // CAP_SETPCAP
	CapSetUID   Cap = 7  // CAP_SETUID
	CapSetGID   Cap = 6  // CAP_SETGID
)

var capNames = map[Cap]string{CapNetAdmin: "CAP_NET_ADMIN", CapSetPCap: "CAP_SETPCAP", CapSetUID: "CAP_SETUID", CapSetGID: "CAP_SETGID"}

// String returns the capability's name, e.g. "CAP_NET_ADMIN".
func (c Cap) String() string {
	if n, ok := capNames[c]; ok {
		return n
	}
	return fmt.Sprintf("capability %d", uint(c))
}

// A Set is a capability set as the kernel reports it: bit N is capability N.
type Set uint64

// Has reports whether the set holds c.
func (s Set) Has(c Cap) bool { return s&(1<<c) != 0 }

// String lists the set's capabilities by name, or "none".
func (s Set) String() string {
	if s == 0 {
		return "none"
	}
	var names []string
	for c := Cap(0); c < 64; c++ {
		if s.Has(c) {
			names = append(names, strings.ToLower(strings.TrimPrefix(c.String(), "CAP_")))
		}
	}
	return strings.Join(names, ",")
}

// State is the credentials and capability sets of one thread, as
// /proc/PID/task/TID/status reports them.
type State struct {
	// TID is the thread id (0 for the process's own status file).
	TID int
	// UID and GID are the real, effective, saved and file-system ids.
	UID, GID [4]int
	// Inheritable, Permitted, Effective, Bounding and Ambient are the
	// thread's capability sets (CapInh, CapPrm, CapEff, CapBnd, CapAmb).
	Inheritable, Permitted, Effective, Bounding, Ambient Set
	// NoNewPrivs is the no_new_privs flag.
	NoNewPrivs bool
}

// ParseStatus reads a /proc status file's credentials and capabilities.
func ParseStatus(text string) (State, error) {
	var st State
	seen := 0
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		var err error
		switch k {
		case "Uid", "Gid":
			ids := &st.UID
			if k == "Gid" {
				ids = &st.GID
			}
			err = parseIDs(v, ids)
		case "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb":
			var x uint64
			x, err = strconv.ParseUint(v, 16, 64)
			*st.set(k) = Set(x)
		case "NoNewPrivs":
			st.NoNewPrivs = v == "1"
			continue
		default:
			continue
		}
		if err != nil {
			return st, fmt.Errorf("status field %s: %w", k, err)
		}
		seen++
	}
	if seen < 7 {
		return st, fmt.Errorf("status: found %d of the Uid, Gid and Cap* fields, want 7", seen)
	}
	return st, nil
}

// set returns the field of the status line named k.
func (st *State) set(k string) *Set {
	switch k {
	case "CapInh":
		return &st.Inheritable
	case "CapPrm":
		return &st.Permitted
	case "CapEff":
		return &st.Effective
	case "CapBnd":
		return &st.Bounding
	}
	return &st.Ambient
}

func parseIDs(v string, ids *[4]int) error {
	f := strings.Fields(v)
	if len(f) != 4 {
		return fmt.Errorf("want 4 ids, got %q", v)
	}
	for i, s := range f {
		n, err := strconv.Atoi(s)
		if err != nil {
			return err
		}
		ids[i] = n
	}
	return nil
}

// Self returns the state of the calling process (its main thread's view).
func Self() (State, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return State{}, fmt.Errorf("capabilities: %w", err)
	}
	return ParseStatus(string(b))
}

// Threads returns the state of every thread of the process.
func Threads() ([]State, error) {
	dirs, err := filepath.Glob("/proc/self/task/*/status")
	if err != nil || len(dirs) == 0 {
		return nil, fmt.Errorf("capabilities: cannot list /proc/self/task: %v", err)
	}
	var out []State
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if errors.Is(err, os.ErrNotExist) {
			continue // the thread ended
		}
		if err != nil {
			return nil, fmt.Errorf("capabilities: %w", err)
		}
		st, err := ParseStatus(string(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d, err)
		}
		st.TID, _ = strconv.Atoi(filepath.Base(filepath.Dir(d)))
		out = append(out, st)
	}
	return out, nil
}

// A MissingError says that the process lacks a capability a step needs.
type MissingError struct {
	Cap Cap
	// For says what needed it.
	For string
	// Have is the effective set the process has, UID its effective uid.
	Have Set
	UID  int
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("missing capability %s, needed for %s: this process (uid %d) has effective capabilities %s; run it as root, or grant %s to its user (systemd: AmbientCapabilities=%s; by hand: setpriv --inh-caps=+%s --ambient-caps=+%s)",
		e.Cap, e.For, e.UID, e.Have, e.Cap, e.Cap, capArg(e.Cap), capArg(e.Cap))
}

func capArg(c Cap) string { return strings.ToLower(strings.TrimPrefix(c.String(), "CAP_")) }

// Require returns a *MissingError when the calling process does not hold
// c in its effective set; what names what needs it.
func Require(c Cap, what string) error {
	st, err := Self()
	if err != nil {
		return err
	}
	return st.require(c, what)
}

func (st State) require(c Cap, what string) error {
	if st.Effective.Has(c) {
		return nil
	}
	return &MissingError{Cap: c, For: what, Have: st.Effective, UID: st.UID[1]}
}
