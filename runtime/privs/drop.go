package privs

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrCgo is wrapped by the error of [Drop] in a program linked with cgo,
// where the Go runtime cannot run a system call on every thread.
var ErrCgo = errors.New("this ctlua was built with cgo, which cannot change the capabilities of every thread: build it with CGO_ENABLED=0 (the Debian package is), or start it as the user with the capability ambient (systemd: User= and AmbientCapabilities=)")

// A Target is the user to become.
type Target struct {
	Name   string
	UID    int
	GID    int
	Groups []int
}

// LookupUser resolves a user name (or a numeric uid) to its ids and
// supplementary groups.
func LookupUser(name string) (Target, error) {
	u, err := user.Lookup(name)
	if err != nil {
		if _, numErr := strconv.Atoi(name); numErr == nil {
			u, err = user.LookupId(name)
		}
	}
	if err != nil {
		return Target{}, fmt.Errorf("user %q: %w", name, err)
	}
	t := Target{Name: name}
	if t.UID, err = strconv.Atoi(u.Uid); err == nil {
		t.GID, err = strconv.Atoi(u.Gid)
	}
	if err != nil {
		return Target{}, fmt.Errorf("user %q: non-numeric id: %w", name, err)
	}
	gids, err := u.GroupIds()
	if err != nil {
		return Target{}, fmt.Errorf("user %q: groups: %w", name, err)
	}
	for _, g := range gids {
		if n, err := strconv.Atoi(g); err == nil {
			t.Groups = append(t.Groups, n)
		}
	}
	return t, nil
}

// Drop switches every thread of the process from root to t, keeping only
// the capabilities keep (permitted, effective and bounding sets; nothing
// inheritable or ambient) and setting no_new_privs, and proves it by
// reading every thread's status.
// A process already running as t (under systemd's User=, say) only has
// its extra capabilities removed the same way.
func Drop(t Target, keep ...Cap) error {
	if cgoBuild {
		return fmt.Errorf("switch to user %s: %w", t.Name, ErrCgo)
	}
	var mask Set
	for _, c := range keep {
		mask |= 1 << c
	}
	st, err := Self()
	if err != nil {
		return err
	}
	if st.UID[1] != 0 && st.UID[1] != t.UID {
		return fmt.Errorf("cannot switch to user %s (uid %d): this process runs as uid %d, not root; start it as root or as %s", t.Name, t.UID, st.UID[1], t.Name)
	}
	// A user process without CAP_SETPCAP cannot shrink its bounding set
	// (systemd's CapabilityBoundingSet= does it for the service).
	bounding := st.UID[1] == 0 || st.Effective.Has(CapSetPCap)
	if bounding {
		if err := dropBounding(mask); err != nil {
			return err
		}
	}
	if st.UID[1] == 0 {
		if err := switchUser(t, st); err != nil {
			return err
		}
	}
	if err := setCaps(mask); err != nil {
		return err
	}
	if err := allThreads(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0); err != nil {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	if err := allThreads(unix.PR_SET_NO_NEW_PRIVS, 1, 0); err != nil {
		return fmt.Errorf("set no_new_privs: %w", err)
	}
	return Verify(t.UID, mask, bounding)
}

// dropBounding removes from the bounding set every capability outside
// mask, so that nothing (no setuid binary, no file capability) brings one
// back. It needs CAP_SETPCAP, so it runs before the user switch.
func dropBounding(mask Set) error {
	last, err := lastCap()
	if err != nil {
		return err
	}
	st, err := Self()
	if err != nil {
		return err
	}
	for c := Cap(0); c <= last; c++ {
		if mask.Has(c) || !st.Bounding.Has(c) {
			continue
		}
		if err := allThreads(unix.PR_CAPBSET_DROP, uintptr(c), 0); err != nil {
			if errors.Is(err, unix.EPERM) {
				return st.require(CapSetPCap, "dropping the other capabilities from the bounding set")
			}
			return fmt.Errorf("drop %s from the bounding set: %w", c, err)
		}
	}
	return nil
}

// switchUser sets the groups, gid and uid of every thread, keeping the
// permitted capabilities across the uid change (PR_SET_KEEPCAPS, which is
// per thread too).
func switchUser(t Target, st State) error {
	for _, c := range []Cap{CapSetUID, CapSetGID} {
		if err := st.require(c, "switching to user "+t.Name); err != nil {
			return err
		}
	}
	if err := allThreads(unix.PR_SET_KEEPCAPS, 1, 0); err != nil {
		return fmt.Errorf("keep capabilities across the user switch: %w", err)
	}
	groups := t.Groups
	if len(groups) == 0 {
		groups = []int{t.GID}
	}
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("setgroups %v: %w", groups, err)
	}
	if err := syscall.Setresgid(t.GID, t.GID, t.GID); err != nil {
		return fmt.Errorf("setresgid %d: %w", t.GID, err)
	}
	if err := syscall.Setresuid(t.UID, t.UID, t.UID); err != nil {
		return fmt.Errorf("setresuid %d: %w", t.UID, err)
	}
	if err := allThreads(unix.PR_SET_KEEPCAPS, 0, 0); err != nil {
		return fmt.Errorf("reset keep-caps: %w", err)
	}
	return nil
}

// setCaps sets every thread's permitted and effective sets to mask and
// clears its inheritable set (capset(2) acts on the calling thread only).
func setCaps(mask Set) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	data[0].Effective, data[0].Permitted = uint32(mask), uint32(mask)
	data[1].Effective, data[1].Permitted = uint32(mask>>32), uint32(mask>>32)
	_, _, errno := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0)
	runtime.KeepAlive(&hdr)
	runtime.KeepAlive(&data)
	if errno != 0 {
		return threadErr("capset", errno)
	}
	return nil
}

// allThreads runs prctl(option, a, b, 0, 0) on every thread.
func allThreads(option int, a, b uintptr) error {
	_, _, errno := syscall.AllThreadsSyscall6(unix.SYS_PRCTL, uintptr(option), a, b, 0, 0, 0)
	if errno != 0 {
		return threadErr("prctl", errno)
	}
	return nil
}

func threadErr(call string, errno syscall.Errno) error {
	if errno == syscall.ENOTSUP {
		return fmt.Errorf("%s on every thread: %w", call, ErrCgo)
	}
	return fmt.Errorf("%s on every thread: %w", call, errno)
}

// lastCap is the highest capability the kernel knows.
func lastCap() (Cap, error) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 0, fmt.Errorf("capabilities: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n < 0 || n > 63 {
		return 0, fmt.Errorf("capabilities: cap_last_cap %q", b)
	}
	return Cap(n), nil
}

// Verify reads every thread's status and fails unless each runs as uid
// (real, effective, saved and file-system) with exactly mask permitted and
// effective (and bounding, when bounding is set), nothing inheritable or
// ambient, and no_new_privs set.
func Verify(uid int, mask Set, bounding bool) error {
	ts, err := Threads()
	if err != nil {
		return err
	}
	for _, t := range ts {
		bad := ""
		switch {
		case t.UID != [4]int{uid, uid, uid, uid}:
			bad = fmt.Sprintf("uids %v", t.UID)
		case t.Effective != mask || t.Permitted != mask:
			bad = fmt.Sprintf("effective %s, permitted %s", t.Effective, t.Permitted)
		case bounding && t.Bounding != mask:
			bad = fmt.Sprintf("bounding %s", t.Bounding)
		case t.Inheritable != 0 || t.Ambient != 0:
			bad = fmt.Sprintf("inheritable %s, ambient %s", t.Inheritable, t.Ambient)
		case !t.NoNewPrivs:
			bad = "no_new_privs unset"
		}
		if bad != "" {
			return fmt.Errorf("privilege drop incomplete: thread %d has %s (want uid %d and only %s)", t.TID, bad, uid, mask)
		}
	}
	return nil
}
