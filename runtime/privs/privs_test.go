package privs

import (
	"errors"
	"os"
	"strings"
	"testing"
)

const status = `Name:	ctlua
Umask:	0022
State:	S (sleeping)
Uid:	999	999	999	999
Gid:	998	998	998	998
NoNewPrivs:	1
CapInh:	0000000000000000
CapPrm:	0000000000001000
CapEff:	0000000000001000
CapBnd:	0000000000001000
CapAmb:	0000000000000000
`

func TestParseStatus(t *testing.T) {
	st, err := ParseStatus(status)
	if err != nil {
		t.Fatal(err)
	}
	if st.UID != [4]int{999, 999, 999, 999} || st.GID[0] != 998 || !st.NoNewPrivs ||
		st.Effective != 1<<CapNetAdmin || st.Permitted != 1<<CapNetAdmin || st.Bounding != 1<<CapNetAdmin ||
		st.Inheritable != 0 || st.Ambient != 0 {
		t.Fatalf("parsed %+v", st)
	}
	if !st.Effective.Has(CapNetAdmin) || st.Effective.Has(CapSetUID) {
		t.Fatal("Has is wrong")
	}
	if got := (Set(1<<CapNetAdmin | 1<<CapSetUID)).String(); got != "setuid,net_admin" {
		t.Fatalf("String: %q", got)
	}
	if got := Set(0).String(); got != "none" {
		t.Fatalf("String of the empty set: %q", got)
	}
}

func TestParseStatusErrors(t *testing.T) {
	tests := []struct{ name, text, want string }{
		{"bad hex", strings.Replace(status, "CapEff:\t0000000000001000", "CapEff:\tzz", 1), "status field CapEff"},
		{"missing set", strings.Replace(status, "CapAmb:\t0000000000000000\n", "", 1), "found 6 of the Uid, Gid and Cap* fields"},
		{"short uid", strings.Replace(status, "Uid:\t999\t999\t999\t999", "Uid:\t999", 1), "status field Uid: want 4 ids"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseStatus(tt.text); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestMissingErrorNamesTheCapability(t *testing.T) {
	st, err := ParseStatus(strings.Replace(status, "CapEff:\t0000000000001000", "CapEff:\t0000000000000000", 1))
	if err != nil {
		t.Fatal(err)
	}
	err = st.require(CapNetAdmin, "binding queues (NFQUEUE)")
	var me *MissingError
	if !errors.As(err, &me) || me.Cap != CapNetAdmin {
		t.Fatalf("error %v, want a *MissingError for CAP_NET_ADMIN", err)
	}
	for _, want := range []string{"missing capability CAP_NET_ADMIN, needed for binding queues (NFQUEUE)", "uid 999", "effective capabilities none",
		"AmbientCapabilities=CAP_NET_ADMIN", "--ambient-caps=+net_admin"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
	if err := (State{Effective: 1 << CapNetAdmin}).require(CapNetAdmin, "x"); err != nil {
		t.Fatalf("holding the capability: %v", err)
	}
}

func TestThreadsReadsEveryThread(t *testing.T) {
	ts, err := Threads()
	if err != nil {
		t.Fatal(err)
	}
	self, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) < 2 { // a Go test runs on several threads
		t.Fatalf("%d threads", len(ts))
	}
	for _, th := range ts {
		if th.TID == 0 || th.UID != self.UID {
			t.Fatalf("thread %+v, process uids %v", th, self.UID)
		}
	}
	if err := Verify(os.Geteuid()+1, self.Effective, false); err == nil || !strings.Contains(err.Error(), "privilege drop incomplete: thread") {
		t.Fatalf("Verify with another uid: %v", err)
	}
}

func TestLookupUser(t *testing.T) {
	u, err := LookupUser("root")
	if err != nil || u.UID != 0 || u.GID != 0 {
		t.Fatalf("root: %+v %v", u, err)
	}
	if u, err := LookupUser("0"); err != nil || u.UID != 0 {
		t.Fatalf("uid 0: %+v %v", u, err)
	}
	if _, err := LookupUser("no-such-user-ctlua"); err == nil || !strings.Contains(err.Error(), `user "no-such-user-ctlua"`) {
		t.Fatalf("unknown user: %v", err)
	}
}
