//go:build integration && linux

// The integration tests register user-space helpers with the running
// kernel, as root:
//
//	go test -tags integration ./runtime/cthelper/
//
// Helpers are global, not per network namespace, so the tests use names of
// their own and remove them when done; TestIntegrationFlush refuses to run
// if the kernel has helpers that are not the tests'. A kernel without
// nfnetlink_cthelper fails every test with the message that says what to
// load: these tests never skip for lack of the feature under test.

package cthelper_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctlua/ctlua/runtime/cthelper"
	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/netlink"
)

// dial fails the test unless the kernel has nfnetlink_cthelper, and
// returns a connection to it.
func dial(t *testing.T) *cthelper.Conn {
	t.Helper()
	if err := cthelper.Probe(nil); err != nil {
		t.Fatalf("nfnetlink_cthelper is required: %v", err)
	}
	c, err := cthelper.Dial(nil)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// testName returns a helper name that no one else uses.
func testName(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("ctlua-it%05d", rand.IntN(100000))
}

// register creates h and deletes it when the test ends.
func register(t *testing.T, c *cthelper.Conn, h cthelper.Helper) {
	t.Helper()
	if err := c.Create(h); err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Delete(h.Name, h.L3, h.L4); err != nil && !errors.Is(err, cthelper.ErrNotFound) {
			t.Errorf("cleanup: %v", err)
		}
	})
}

func mustGet(t *testing.T, c *cthelper.Conn, want cthelper.Helper) {
	t.Helper()
	got, err := c.Get(want.Name, want.L3, want.L4)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("unexpected helper in the kernel (-want +got):\n%s", diff)
	}
}

// listed returns the helpers of the kernel named name.
func listed(t *testing.T, c *cthelper.Conn, name string) []cthelper.Helper {
	t.Helper()
	hs, err := c.List()
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	var out []cthelper.Helper
	for _, h := range hs {
		if h.Name == name {
			out = append(out, h)
		}
	}
	return out
}

func TestIntegrationProbe(t *testing.T) {
	if err := cthelper.Probe(nil); err != nil {
		t.Fatalf("Probe: %v", err)
	}
}

func TestIntegrationLifecycle(t *testing.T) {
	c := dial(t)
	name := testName(t)
	h4 := cthelper.Helper{
		Name:     name,
		L3:       cthelper.IPv4,
		L4:       cthelper.TCP,
		QueueNum: 7,
		Policies: []cthelper.Policy{
			{Name: "data", MaxExpected: 4, Timeout: 30 * time.Second},
			{Name: "ctl", MaxExpected: 1, Timeout: 2 * time.Minute},
		},
		PrivSize: 16,
		Enabled:  true,
	}
	h6 := cthelper.Helper{
		Name:     name,
		L3:       cthelper.IPv6,
		L4:       cthelper.UDP,
		QueueNum: 0xfffe,
		Policies: []cthelper.Policy{{Name: "reply", MaxExpected: 255, Timeout: time.Second}},
	}

	register(t, c, h4)
	register(t, c, h6)
	mustGet(t, c, h4)
	mustGet(t, c, h6)
	if diff := cmp.Diff([]cthelper.Helper{h4, h6}, listed(t, c, name), sortByL3()); diff != "" {
		t.Fatalf("unexpected List (-want +got):\n%s", diff)
	}

	if err := c.Create(h4); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Create of a registered helper: %v, want EEXIST", err)
	}

	// Queue, status and policy limits change in place.
	u := h4
	u.QueueNum = 8
	u.Policies = []cthelper.Policy{
		{Name: "data", MaxExpected: 8, Timeout: time.Minute},
		{Name: "ctl", MaxExpected: 2, Timeout: 3 * time.Minute},
	}
	u.Enabled = false
	if err := c.Update(u); err != nil {
		t.Fatalf("Update: %v", err)
	}
	mustGet(t, c, u)

	// The layout does not.
	renamed := u
	renamed.Policies = []cthelper.Policy{u.Policies[0], {Name: "control", MaxExpected: 2, Timeout: time.Minute}}
	if err := c.Update(renamed); !errors.Is(err, syscall.EBUSY) {
		t.Fatalf("Update with a renamed policy: %v, want EBUSY", err)
	}
	resized := u
	resized.PrivSize = 32
	if err := c.Update(resized); !errors.Is(err, syscall.EBUSY) {
		t.Fatalf("Update with a new private data size: %v, want EBUSY", err)
	}
	mustGet(t, c, u)

	if err := c.Delete(h4.Name, h4.L3, h4.L4); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := c.Get(h4.Name, h4.L3, h4.L4); !errors.Is(err, cthelper.ErrNotFound) {
		t.Fatalf("Get of a deleted helper: %v, want ErrNotFound", err)
	}
	// h6 is still registered, so the kernel reports the miss.
	if err := c.Delete(h4.Name, h4.L3, h4.L4); !errors.Is(err, cthelper.ErrNotFound) {
		t.Fatalf("Delete of a deleted helper: %v, want ErrNotFound", err)
	}
	if err := c.Update(u); !errors.Is(err, cthelper.ErrNotFound) {
		t.Fatalf("Update of a deleted helper: %v, want ErrNotFound", err)
	}
	if diff := cmp.Diff([]cthelper.Helper{h6}, listed(t, c, name)); diff != "" {
		t.Fatalf("unexpected List (-want +got):\n%s", diff)
	}
}

func sortByL3() cmp.Option {
	return cmp.Transformer("sortByL3", func(hs []cthelper.Helper) []cthelper.Helper {
		out := append([]cthelper.Helper(nil), hs...)
		for i := range out {
			for j := i + 1; j < len(out); j++ {
				if out[j].L3 < out[i].L3 {
					out[i], out[j] = out[j], out[i]
				}
			}
		}
		return out
	})
}

// TestIntegrationInKernelHelper checks the message for a name taken by an
// in-kernel helper.
func TestIntegrationInKernelHelper(t *testing.T) {
	c := dial(t)
	if out, err := exec.Command("modprobe", "nf_conntrack_ftp").CombinedOutput(); err != nil {
		// Not the feature under test.
		t.Skipf("cannot load nf_conntrack_ftp: %v: %s", err, out)
	}
	h := cthelper.Helper{
		Name:     "ftp",
		L3:       cthelper.IPv4,
		L4:       cthelper.TCP,
		Policies: []cthelper.Policy{{Name: "ftp", MaxExpected: 1, Timeout: 5 * time.Minute}},
	}
	err := c.Create(h)
	if err == nil {
		c.Delete(h.Name, h.L3, h.L4)
		t.Fatal("Create over the in-kernel ftp helper succeeded, want EBUSY")
	}
	if !errors.Is(err, syscall.EBUSY) || !strings.Contains(err.Error(), "is nf_conntrack_ftp loaded?") {
		t.Fatalf("Create over the in-kernel ftp helper: %v, want EBUSY naming nf_conntrack_ftp", err)
	}
}

// TestIntegrationFlush flushes the kernel's user-space helpers, which are
// global: it fails rather than delete helpers that are not its own.
func TestIntegrationFlush(t *testing.T) {
	c := dial(t)
	hs, err := c.List()
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	for _, h := range hs {
		if !strings.HasPrefix(h.Name, "ctlua-it") {
			t.Fatalf("refusing to flush: the kernel has user-space helper %q %v/%d that is not this test's", h.Name, h.L3, h.L4)
		}
	}
	name := testName(t)
	for _, l3 := range []cthelper.L3Proto{cthelper.IPv4, cthelper.IPv6} {
		register(t, c, cthelper.Helper{
			Name:     name,
			L3:       l3,
			L4:       cthelper.UDP,
			Policies: []cthelper.Policy{{Name: "p", MaxExpected: 1, Timeout: time.Second}},
		})
	}
	if err := c.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if hs, err := c.List(); err != nil || len(hs) != 0 {
		t.Fatalf("List after Flush: %v, %v; want none", hs, err)
	}
	// Flushing nothing succeeds.
	if err := c.Flush(); err != nil {
		t.Fatalf("second Flush: %v", err)
	}
}

// TestIntegrationGetReplyIsMulti pins the kernel behaviour that makes
// Conn.Get use a dump: the reply to a GET without NLM_F_DUMP is flagged
// NLM_F_MULTI but not followed by NLMSG_DONE, so netlink.Conn.Execute would
// wait for the rest of it forever. If this test fails, the kernel has
// changed and Get could use the kernel's own lookup.
func TestIntegrationGetReplyIsMulti(t *testing.T) {
	c := dial(t)
	h := cthelper.Helper{
		Name:     testName(t),
		L3:       cthelper.IPv4,
		L4:       cthelper.TCP,
		Policies: []cthelper.Policy{{Name: "p", MaxExpected: 1, Timeout: time.Second}},
	}
	register(t, c, h)

	nc, err := netlink.Dial(12 /* NETLINK_NETFILTER */, nil)
	if err != nil {
		t.Fatalf("netlink.Dial: %v", err)
	}
	defer nc.Close()
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	// NFCTH_NAME, NFCTH_TUPLE{L3PROTONUM, L4PROTONUM}
	ae.String(1, h.Name)
	ae.Nested(2, func(nae *netlink.AttributeEncoder) error {
		nae.Uint16(1, uint16(h.L3))
		nae.Uint8(2, h.L4)
		return nil
	})
	attrs, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	req := netlink.Message{
		Header: netlink.Header{Type: 9<<8 | 1, Flags: netlink.Request}, // CTHELPER GET
		Data:   append([]byte{0, 0, 0, 0}, attrs...),
	}
	if _, err := nc.Send(req); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if err := nc.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	var got []netlink.Message
	var recvErr error
	for m, err := range nc.ReceiveIter() {
		if err != nil {
			recvErr = err
			break
		}
		got = append(got, m)
	}
	if len(got) != 1 || got[0].Header.Type != 9<<8 || got[0].Header.Flags&netlink.Multi == 0 {
		t.Fatalf("GET reply: %+v, want one NEW message flagged NLM_F_MULTI", got)
	}
	if recvErr == nil {
		t.Fatal("GET reply was complete: the kernel no longer leaves a multi-part reply open")
	}
	if !errors.Is(recvErr, os.ErrDeadlineExceeded) {
		t.Fatalf("after the GET reply: %v, want a read timeout", recvErr)
	}
}
