//go:build vm

package vm

// These tests check that the running kernel has what ctlua needs. They need
// root and are meant to run in the VM (tests/vm/run-go-tests.sh). They never
// skip: on a kernel without the features they fail, naming what is missing.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	nfqueue "github.com/florianl/go-nfqueue/v2"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

const (
	nfnlSubsysCTHelper = 9 // NFNL_SUBSYS_CTHELPER
	nfnlMsgCTHelperGet = 1 // NFNL_MSG_CTHELPER_GET
	ctaTupleOrig       = 1 // CTA_TUPLE_ORIG
	ipCtNew            = 2 // IP_CT_NEW (enum ip_conntrack_info)
)

// kernelRelease is uname -r, for messages.
func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "?"
	}
	return unix.ByteSliceToString(u.Release[:])
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("needs root: run it with sudo tests/vm/run-go-tests.sh")
	}
}

// TestKernelHasCTHelper dumps the user-space conntrack helpers
// (NFNL_MSG_CTHELPER_GET). A kernel without nfnetlink_cthelper answers
// EINVAL: nfnetlink does not know the subsystem.
func TestKernelHasCTHelper(t *testing.T) {
	needRoot(t)
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, nil)
	if err != nil {
		t.Fatalf("opening a NETLINK_NETFILTER socket: %v", err)
	}
	defer c.Close()

	req := netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(nfnlSubsysCTHelper<<8 | nfnlMsgCTHelperGet),
			Flags: netlink.Request | netlink.Dump,
		},
		// struct nfgenmsg: family AF_UNSPEC, version NFNETLINK_V0, res_id 0
		Data: []byte{unix.AF_UNSPEC, unix.NFNETLINK_V0, 0, 0},
	}
	msgs, err := c.Execute(req)
	if errors.Is(err, unix.EINVAL) {
		t.Fatalf("kernel %s has no nfnetlink_cthelper: the NFNL_MSG_CTHELPER_GET dump "+
			"got %v (CONFIG_NF_CT_NETLINK_HELPER is missing; it needs "+
			"CONFIG_NETFILTER_NETLINK_GLUE_CT). Run the tests in the VM: tests/vm/run-go-tests.sh",
			kernelRelease(), err)
	}
	if err != nil {
		t.Fatalf("kernel %s: NFNL_MSG_CTHELPER_GET dump: %v", kernelRelease(), err)
	}
	t.Logf("kernel %s: nfnetlink_cthelper answers; %d user-space helper(s) registered",
		kernelRelease(), len(msgs))
}

// TestNFQueueConntrackFlag binds an NFQUEUE with NFQA_CFG_F_CONNTRACK in a
// fresh network namespace, queues one UDP packet there with an iptables
// rule that uses conntrack (without one, conntrack is not even enabled in
// the namespace and no NFQA_CT comes), and checks that the packet arrives
// with its conntrack (NFQA_CT) and conntrack state (NFQA_CT_INFO). It then
// accepts the packet and checks it reaches its socket.
func TestNFQueueConntrackFlag(t *testing.T) {
	needRoot(t)
	const queueNum = 7
	const port = 9999
	ns := newNetns(t)
	run(t, "ip", "-n", ns.name, "link", "set", "lo", "up")
	if out, err := ns.exec("iptables", "-A", "OUTPUT", "-p", "udp", "--dport", fmt.Sprint(port),
		"-m", "conntrack", "--ctstate", "NEW", "-j", "NFQUEUE", "--queue-num", fmt.Sprint(queueNum)); err != nil {
		t.Fatalf("iptables: %v\n%s(xt_conntrack and xt_NFQUEUE are auto-loaded modules on most kernels: "+
			"if they are missing, module auto-loading does not work)", err, out)
	}

	nf, err := nfqueue.Open(&nfqueue.Config{
		NetNS:        ns.fd(),
		NfQueue:      queueNum,
		Copymode:     nfqueue.NfQnlCopyPacket,
		MaxPacketLen: 0xffff,
		Flags:        nfqueue.NfQaCfgFlagConntrack,
		WriteTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatalf("opening the nfqueue socket: %v", err)
	}
	defer nf.Close()

	type packet struct {
		payload, ct []byte
		ctInfo      *uint32
	}
	got := make(chan packet, 4)
	verdictErr := make(chan error, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	hook := func(a nfqueue.Attribute) int {
		var p packet
		if a.Payload != nil {
			p.payload = bytes.Clone(*a.Payload)
		}
		if a.Ct != nil {
			p.ct = bytes.Clone(*a.Ct)
		}
		if a.CtInfo != nil {
			v := *a.CtInfo
			p.ctInfo = &v
		}
		if a.PacketID == nil {
			verdictErr <- errors.New("queued packet without a packet id")
		} else if err := nf.SetVerdict(*a.PacketID, nfqueue.NfAccept); err != nil {
			verdictErr <- fmt.Errorf("accepting the packet: %w", err)
		}
		got <- p
		return 0
	}
	errFn := func(err error) int {
		if ctx.Err() == nil {
			t.Logf("nfqueue receive: %v", err)
		}
		return 1
	}
	if err := nf.RegisterWithErrorFunc(ctx, hook, errFn); err != nil {
		msg := ""
		if errors.Is(err, unix.EOPNOTSUPP) {
			msg = " (NFQA_CFG_F_CONNTRACK needs CONFIG_NETFILTER_NETLINK_GLUE_CT, which this kernel lacks)"
		}
		t.Fatalf("kernel %s: binding NFQUEUE %d with NFQA_CFG_F_CONNTRACK: %v%s",
			kernelRelease(), queueNum, err, msg)
	}

	// A receiver and a sender, both in the namespace.
	payload := []byte("ctlua vm test")
	var rx, tx *net.UDPConn
	ns.do(t, func() (err error) {
		if rx, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}); err != nil {
			return err
		}
		tx, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		return err
	})
	defer rx.Close()
	defer tx.Close()
	if _, err := tx.Write(payload); err != nil {
		t.Fatalf("sending the UDP packet: %v", err)
	}

	var p packet
	select {
	case p = <-got:
	case <-time.After(30 * time.Second):
		t.Fatal("no packet on NFQUEUE 7 within 30 s")
	}
	select {
	case err := <-verdictErr:
		t.Fatal(err)
	default:
	}
	if !bytes.HasSuffix(p.payload, payload) {
		t.Errorf("queued packet %x does not end with the UDP payload %q", p.payload, payload)
	}
	if len(p.ct) == 0 {
		t.Errorf("kernel %s: the queued packet has no NFQA_CT although the queue asked for it "+
			"(CONFIG_NETFILTER_NETLINK_GLUE_CT missing?)", kernelRelease())
	} else if !hasAttr(p.ct, ctaTupleOrig) {
		t.Errorf("NFQA_CT (%d bytes) has no CTA_TUPLE_ORIG: %x", len(p.ct), p.ct)
	}
	switch {
	case p.ctInfo == nil:
		t.Errorf("kernel %s: the queued packet has no NFQA_CT_INFO", kernelRelease())
	case *p.ctInfo != ipCtNew:
		t.Errorf("NFQA_CT_INFO = %d, want %d (IP_CT_NEW)", *p.ctInfo, ipCtNew)
	}
	t.Logf("queued packet: %d bytes, NFQA_CT %d bytes, NFQA_CT_INFO %v", len(p.payload), len(p.ct), deref(p.ctInfo))

	// The accepted packet reaches the receiver.
	buf := make([]byte, 100)
	rx.SetReadDeadline(time.Now().Add(30 * time.Second))
	n, err := rx.Read(buf)
	if err != nil {
		t.Fatalf("the accepted packet did not arrive: %v", err)
	}
	if !bytes.Equal(buf[:n], payload) {
		t.Fatalf("received %q, want %q", buf[:n], payload)
	}
}

// TestVethPair checks that the guest can build the topologies the
// end-to-end tests use: namespaces joined by veth pairs.
func TestVethPair(t *testing.T) {
	needRoot(t)
	a, b := newNetns(t), newNetns(t)
	run(t, "ip", "-n", a.name, "link", "add", "v0", "type", "veth", "peer", "name", "v1", "netns", b.name)
	run(t, "ip", "-n", a.name, "addr", "add", "192.0.2.1/24", "dev", "v0")
	run(t, "ip", "-n", b.name, "addr", "add", "192.0.2.2/24", "dev", "v1")
	run(t, "ip", "-n", a.name, "link", "set", "v0", "up")
	run(t, "ip", "-n", b.name, "link", "set", "v1", "up")

	var rx *net.UDPConn
	b.do(t, func() (err error) {
		rx, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(192, 0, 2, 2), Port: 9998})
		return err
	})
	defer rx.Close()
	var tx *net.UDPConn
	a.do(t, func() (err error) {
		tx, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(192, 0, 2, 2), Port: 9998})
		return err
	})
	defer tx.Close()
	// The first packet may wait for ARP; resend until one arrives.
	deadline := time.Now().Add(20 * time.Second)
	buf := make([]byte, 16)
	for {
		if _, err := tx.Write([]byte("veth")); err != nil {
			t.Fatalf("sending over the veth pair: %v", err)
		}
		rx.SetReadDeadline(time.Now().Add(time.Second))
		n, err := rx.Read(buf)
		if err == nil && string(buf[:n]) == "veth" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing arrived over the veth pair: %v", err)
		}
	}
}

// netns is a named network namespace (ip netns), deleted at the end of the test.
type netns struct {
	name string
	f    *os.File
}

func newNetns(t *testing.T) *netns {
	t.Helper()
	name := fmt.Sprintf("ctlua-vm-%d-%s", os.Getpid(), strings.NewReplacer("/", "-").Replace(t.Name()))
	for i := 0; ; i++ {
		n := fmt.Sprintf("%s-%d", name, i)
		if _, err := os.Stat("/run/netns/" + n); os.IsNotExist(err) {
			name = n
			break
		}
	}
	run(t, "ip", "netns", "add", name)
	ns := &netns{name: name}
	t.Cleanup(func() {
		if ns.f != nil {
			ns.f.Close()
		}
		if out, err := exec.Command("ip", "netns", "delete", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns delete %s: %v\n%s", name, err, out)
		}
	})
	f, err := os.Open("/run/netns/" + name)
	if err != nil {
		t.Fatal(err)
	}
	ns.f = f
	return ns
}

func (ns *netns) fd() int { return int(ns.f.Fd()) }

// exec runs a command in the namespace.
func (ns *netns) exec(args ...string) ([]byte, error) {
	return exec.Command("ip", append([]string{"netns", "exec", ns.name}, args...)...).CombinedOutput()
}

// do runs fn on an OS thread that is in the namespace: sockets fn creates
// belong to the namespace for good.
func (ns *netns) do(t *testing.T, fn func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// The thread is left locked (and so thrown away) unless it gets
		// back to its own namespace.
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer self.Close()
		if err := unix.Setns(ns.fd(), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns.name, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err == nil {
			runtime.UnlockOSThread()
		}
		errc <- ferr
	}()
	if err := <-errc; err != nil {
		t.Fatalf("in netns %s: %v", ns.name, err)
	}
}

func run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// hasAttr reports whether the netlink attributes in b include one of type typ.
func hasAttr(b []byte, typ uint16) bool {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return false
	}
	for ad.Next() {
		if ad.Type() == typ {
			return true
		}
	}
	return false
}

func deref(p *uint32) any {
	if p == nil {
		return nil
	}
	return *p
}
