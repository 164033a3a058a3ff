package cthelper

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"
)

// Message types and header flags as the kernel sees them.
const (
	typeNew = 0x0900 // NFNL_SUBSYS_CTHELPER<<8 | NFNL_MSG_CTHELPER_NEW
	typeGet = 0x0901 // ... | NFNL_MSG_CTHELPER_GET
	typeDel = 0x0902 // ... | NFNL_MSG_CTHELPER_DEL

	flagsCreate = 0x605 // NLM_F_REQUEST|NLM_F_ACK|NLM_F_EXCL|NLM_F_CREATE
	flagsAck    = 0x005 // NLM_F_REQUEST|NLM_F_ACK
	flagsDump   = 0x301 // NLM_F_REQUEST|NLM_F_DUMP
)

// A request is what the fake kernel saw of a netlink request.
type request struct {
	Type  netlink.HeaderType
	Flags netlink.HeaderFlags
	Data  []byte
}

// A fakeKernel answers cthelper requests like nfnetlink_cthelper: dumps
// list the helpers in dump, NEW and DEL are acknowledged, and each kind of
// request fails with its errno if one is set.
type fakeKernel struct {
	dump    [][]byte // data of the NEW messages of a dump reply
	dumpErr syscall.Errno
	newErr  syscall.Errno
	delErr  syscall.Errno

	reqs []request
}

func (k *fakeKernel) conn(t *testing.T) *Conn {
	c := NewConn(nltest.Dial(k.handle))
	t.Cleanup(func() { c.Close() })
	return c
}

func (k *fakeKernel) handle(reqs []netlink.Message) ([]netlink.Message, error) {
	req := reqs[0]
	k.reqs = append(k.reqs, request{Type: req.Header.Type, Flags: req.Header.Flags, Data: req.Data})
	var errno syscall.Errno
	switch req.Header.Type {
	case typeGet:
		if k.dumpErr != 0 {
			return errorReply(req, k.dumpErr), nil
		}
		reply := func(typ netlink.HeaderType, data []byte) netlink.Message {
			return netlink.Message{
				Header: netlink.Header{Type: typ, Flags: netlink.Multi, Sequence: req.Header.Sequence, PID: nltest.PID},
				Data:   data,
			}
		}
		var msgs []netlink.Message
		for _, d := range k.dump {
			msgs = append(msgs, reply(typeNew, d))
		}
		return append(msgs, reply(netlink.Done, []byte{0, 0, 0, 0})), nil
	case typeNew:
		errno = k.newErr
	case typeDel:
		errno = k.delErr
	default:
		errno = syscall.EINVAL
	}
	// Error 0 is the acknowledgement.
	return errorReply(req, errno), nil
}

// errorReply returns the kernel's NLMSG_ERROR reply to req: the negated
// errno followed by the request, header included. (nltest.Error copies the
// request's flags, where NLM_F_EXCL and NLM_F_MATCH read as NLM_F_ACK_TLVS.)
func errorReply(req netlink.Message, errno syscall.Errno) []netlink.Message {
	data := binary.NativeEndian.AppendUint32(nil, uint32(-int32(errno)))
	data = binary.NativeEndian.AppendUint32(data, req.Header.Length)
	data = binary.NativeEndian.AppendUint16(data, uint16(req.Header.Type))
	data = binary.NativeEndian.AppendUint16(data, uint16(req.Header.Flags))
	data = binary.NativeEndian.AppendUint32(data, req.Header.Sequence)
	data = binary.NativeEndian.AppendUint32(data, req.Header.PID)
	data = append(data, req.Data...)
	return []netlink.Message{{
		Header: netlink.Header{Type: netlink.Error, Sequence: req.Header.Sequence, PID: nltest.PID},
		Data:   data,
	}}
}

func TestConnRequests(t *testing.T) {
	requireLittleEndian(t)
	tests := []struct {
		name string
		dump [][]byte
		do   func(c *Conn) error
		want []request
	}{
		{
			name: "create ipv4/tcp, one policy",
			do:   func(c *Conn) error { return c.Create(ftp) },
			want: []request{{typeNew, flagsCreate, createFTP}},
		},
		{
			name: "create ipv6/udp, two policies, disabled",
			do:   func(c *Conn) error { return c.Create(tftp) },
			want: []request{{typeNew, flagsCreate, createTFTP}},
		},
		{
			name: "update looks the helper up, then sends NEW without EXCL nor PRIV_DATA_LEN",
			dump: [][]byte{ftpReply, tftpReplyOld},
			do:   func(c *Conn) error { return c.Update(tftpUpdated) },
			want: []request{
				{typeGet, flagsDump, noAttrs},
				{typeNew, flagsAck, updateTFTP},
			},
		},
		{
			name: "get dumps",
			dump: [][]byte{ftpReply, tftpReplyOld},
			do: func(c *Conn) error {
				_, err := c.Get("tftp", IPv6, UDP)
				return err
			},
			want: []request{{typeGet, flagsDump, noAttrs}},
		},
		{
			name: "list",
			do: func(c *Conn) error {
				_, err := c.List()
				return err
			},
			want: []request{{typeGet, flagsDump, noAttrs}},
		},
		{
			name: "delete",
			do:   func(c *Conn) error { return c.Delete("tftp", IPv6, UDP) },
			want: []request{{typeDel, flagsAck, deleteTFTP}},
		},
		{
			name: "flush",
			do:   func(c *Conn) error { return c.Flush() },
			want: []request{{typeDel, flagsAck, noAttrs}},
		},
		{
			name: "probe",
			do:   func(c *Conn) error { return c.probe() },
			want: []request{{typeGet, flagsDump, noAttrs}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := &fakeKernel{dump: tt.dump}
			if err := tt.do(k.conn(t)); err != nil {
				t.Fatalf("request failed: %v", err)
			}
			if diff := cmp.Diff(tt.want, k.reqs); diff != "" {
				t.Fatalf("unexpected requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConnList(t *testing.T) {
	requireLittleEndian(t)
	tests := []struct {
		name string
		dump [][]byte
		want []Helper
	}{
		{name: "none"},
		{name: "one", dump: [][]byte{ftpReply}, want: []Helper{ftp}},
		{name: "two", dump: [][]byte{ftpReply, tftpReplyOld}, want: []Helper{ftp, tftp}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := &fakeKernel{dump: tt.dump}
			got, err := k.conn(t).List()
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("unexpected helpers (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConnGet(t *testing.T) {
	requireLittleEndian(t)
	k := &fakeKernel{dump: [][]byte{ftpReply, tftpReplyOld}}
	c := k.conn(t)
	tests := []struct {
		name   string
		helper string
		l3     L3Proto
		l4     uint8
		want   Helper
		err    string
	}{
		{name: "first", helper: "ftp", l3: IPv4, l4: TCP, want: ftp},
		{name: "second", helper: "tftp", l3: IPv6, l4: UDP, want: tftp},
		{
			name: "other l3", helper: "tftp", l3: IPv4, l4: UDP,
			err: `cthelper: get helper "tftp" ipv4/udp: no such user-space helper in the kernel`,
		},
		{
			name: "other l4", helper: "ftp", l3: IPv4, l4: UDP,
			err: `cthelper: get helper "ftp" ipv4/udp: no such user-space helper in the kernel`,
		},
		{
			name: "other name", helper: "ftp2", l3: IPv4, l4: TCP,
			err: `cthelper: get helper "ftp2" ipv4/tcp: no such user-space helper in the kernel`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Get(tt.helper, tt.l3, tt.l4)
			if tt.err != "" {
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("Get: error %v, want ErrNotFound", err)
				}
				if err.Error() != tt.err {
					t.Fatalf("Get:\n got %v\nwant %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("unexpected helper (-want +got):\n%s", diff)
			}
		})
	}
}

// TestConnErrors checks how each kernel errno of each request is reported.
func TestConnErrors(t *testing.T) {
	requireLittleEndian(t)
	renamed := tftp
	renamed.Policies = []Policy{tftp.Policies[0], {Name: "ack2", MaxExpected: 2, Timeout: time.Hour}}
	onePolicy := tftp
	onePolicy.Policies = tftp.Policies[:1]
	morePriv := tftp
	morePriv.PrivSize = 8

	create := func(c *Conn) error { return c.Create(ftp) }
	update := func(c *Conn) error { return c.Update(tftp) }
	get := func(c *Conn) error { _, err := c.Get("ftp", IPv4, TCP); return err }
	list := func(c *Conn) error { _, err := c.List(); return err }
	del := func(c *Conn) error { return c.Delete("ftp", IPv4, TCP) }
	flush := func(c *Conn) error { return c.Flush() }

	const (
		notSupported = "kernel has no nfnetlink_cthelper (CONFIG_NF_CT_NETLINK_HELPER); try `modprobe nfnetlink_cthelper`"
		capNetAdmin  = "needs CAP_NET_ADMIN in the initial user namespace"
		relayout     = "needs delete and re-registration"
	)

	tests := []struct {
		name string
		k    fakeKernel
		do   func(c *Conn) error
		is   []error // errors.Is must hold
		not  []error // errors.Is must not hold
		want string
	}{
		{
			name: "create without CAP_NET_ADMIN",
			k:    fakeKernel{newErr: syscall.EPERM},
			do:   create,
			is:   []error{syscall.EPERM, fs.ErrPermission},
			not:  []error{ErrNotSupported},
			want: `cthelper: create helper "ftp" ipv4/tcp: ` + capNetAdmin + `: netlink receive: operation not permitted`,
		},
		{
			name: "create on a kernel without the subsystem",
			k:    fakeKernel{newErr: syscall.EINVAL, dumpErr: syscall.EINVAL},
			do:   create,
			is:   []error{ErrNotSupported, syscall.EINVAL},
			want: `cthelper: create helper "ftp" ipv4/tcp: ` + notSupported + `: netlink receive: invalid argument`,
		},
		{
			name: "create rejected by a kernel with the subsystem",
			k:    fakeKernel{newErr: syscall.EINVAL},
			do:   create,
			is:   []error{syscall.EINVAL},
			not:  []error{ErrNotSupported},
			want: `cthelper: create helper "ftp" ipv4/tcp: the kernel rejected the request as malformed (a bug in this package or a kernel incompatibility): netlink receive: invalid argument`,
		},
		{
			name: "create, EINVAL, probe fails otherwise",
			k:    fakeKernel{newErr: syscall.EINVAL, dumpErr: syscall.ENOBUFS},
			do:   create,
			is:   []error{syscall.EINVAL},
			not:  []error{ErrNotSupported, syscall.ENOBUFS},
			want: `cthelper: create helper "ftp" ipv4/tcp: the kernel rejected the request as malformed (a bug in this package or a kernel incompatibility): netlink receive: invalid argument`,
		},
		{
			name: "create, EOPNOTSUPP",
			k:    fakeKernel{newErr: syscall.EOPNOTSUPP},
			do:   create,
			is:   []error{ErrNotSupported, syscall.EOPNOTSUPP},
			want: `cthelper: create helper "ftp" ipv4/tcp: ` + notSupported + `: netlink receive: operation not supported`,
		},
		{
			name: "create over an in-kernel helper",
			k:    fakeKernel{newErr: syscall.EBUSY},
			do:   create,
			is:   []error{syscall.EBUSY},
			want: `cthelper: create helper "ftp" ipv4/tcp: a helper named "ftp" exists in the kernel (is nf_conntrack_ftp loaded?): netlink receive: device or resource busy`,
		},
		{
			name: "create an existing helper",
			k:    fakeKernel{newErr: syscall.EEXIST},
			do:   create,
			is:   []error{syscall.EEXIST, fs.ErrExist},
			want: `cthelper: create helper "ftp" ipv4/tcp: the helper exists (update it instead): netlink receive: file exists`,
		},
		{
			name: "create, other errno",
			k:    fakeKernel{newErr: syscall.ENOMEM},
			do:   create,
			is:   []error{syscall.ENOMEM},
			want: `cthelper: create helper "ftp" ipv4/tcp: netlink receive: cannot allocate memory`,
		},
		{
			name: "update refused by the kernel",
			k:    fakeKernel{dump: [][]byte{tftpReplyOld}, newErr: syscall.EBUSY},
			do:   update,
			is:   []error{syscall.EBUSY},
			want: `cthelper: update helper "tftp" ipv6/udp: policy names/count or private data size changed: ` + relayout + `: netlink receive: device or resource busy`,
		},
		{
			name: "update, policy count changed",
			k:    fakeKernel{dump: [][]byte{tftpReplyOld}},
			do:   func(c *Conn) error { return c.Update(onePolicy) },
			is:   []error{syscall.EBUSY},
			want: `cthelper: update helper "tftp" ipv6/udp: policy count changed from 2 to 1: ` + relayout + `: device or resource busy`,
		},
		{
			name: "update, policy renamed",
			k:    fakeKernel{dump: [][]byte{tftpReplyOld}},
			do:   func(c *Conn) error { return c.Update(renamed) },
			is:   []error{syscall.EBUSY},
			want: `cthelper: update helper "tftp" ipv6/udp: policy 1 name changed from "ack" to "ack2": ` + relayout + `: device or resource busy`,
		},
		{
			name: "update, private data size changed",
			k:    fakeKernel{dump: [][]byte{tftpReplyOld}},
			do:   func(c *Conn) error { return c.Update(morePriv) },
			is:   []error{syscall.EBUSY},
			want: `cthelper: update helper "tftp" ipv6/udp: private data size changed from 0 to 8: ` + relayout + `: device or resource busy`,
		},
		{
			name: "update a missing helper",
			k:    fakeKernel{dump: [][]byte{ftpReply}},
			do:   update,
			is:   []error{ErrNotFound},
			want: `cthelper: update helper "tftp" ipv6/udp: no such user-space helper in the kernel`,
		},
		{
			name: "update on a kernel without the subsystem",
			k:    fakeKernel{dumpErr: syscall.EINVAL, newErr: syscall.EINVAL},
			do:   update,
			is:   []error{ErrNotSupported, syscall.EINVAL},
			want: `cthelper: update helper "tftp" ipv6/udp: ` + notSupported + `: netlink receive: invalid argument`,
		},
		{
			name: "update without CAP_NET_ADMIN",
			k:    fakeKernel{dumpErr: syscall.EPERM, newErr: syscall.EPERM},
			do:   update,
			is:   []error{syscall.EPERM},
			want: `cthelper: update helper "tftp" ipv6/udp: ` + capNetAdmin + `: netlink receive: operation not permitted`,
		},
		{
			name: "get on a kernel without the subsystem",
			k:    fakeKernel{dumpErr: syscall.EINVAL},
			do:   get,
			is:   []error{ErrNotSupported, syscall.EINVAL},
			want: `cthelper: get helper "ftp" ipv4/tcp: ` + notSupported + `: netlink receive: invalid argument`,
		},
		{
			name: "get a missing helper",
			k:    fakeKernel{},
			do:   get,
			is:   []error{ErrNotFound},
			not:  []error{ErrNotSupported},
			want: `cthelper: get helper "ftp" ipv4/tcp: no such user-space helper in the kernel`,
		},
		{
			name: "list on a kernel without the subsystem",
			k:    fakeKernel{dumpErr: syscall.EINVAL},
			do:   list,
			is:   []error{ErrNotSupported, syscall.EINVAL},
			want: `cthelper: list: ` + notSupported + `: netlink receive: invalid argument`,
		},
		{
			name: "list, ENOENT for the subsystem",
			k:    fakeKernel{dumpErr: syscall.ENOENT},
			do:   list,
			is:   []error{ErrNotSupported, syscall.ENOENT},
			not:  []error{ErrNotFound},
			want: `cthelper: list: ` + notSupported + `: netlink receive: no such file or directory`,
		},
		{
			name: "list without CAP_NET_ADMIN",
			k:    fakeKernel{dumpErr: syscall.EPERM},
			do:   list,
			is:   []error{syscall.EPERM},
			want: `cthelper: list: ` + capNetAdmin + `: netlink receive: operation not permitted`,
		},
		{
			name: "list, undecodable reply",
			k:    fakeKernel{dump: [][]byte{{0x00, 0x00}}},
			do:   list,
			not:  []error{ErrNotSupported},
			want: `cthelper: list: decode reply: message of 2 bytes has no nfgenmsg header`,
		},
		{
			name: "delete a missing helper",
			k:    fakeKernel{delErr: syscall.ENOENT},
			do:   del,
			is:   []error{ErrNotFound, syscall.ENOENT, fs.ErrNotExist},
			not:  []error{ErrNotSupported},
			want: `cthelper: delete helper "ftp" ipv4/tcp: no such user-space helper in the kernel: netlink receive: no such file or directory`,
		},
		{
			name: "delete on a kernel without the subsystem",
			k:    fakeKernel{delErr: syscall.EINVAL, dumpErr: syscall.EINVAL},
			do:   del,
			is:   []error{ErrNotSupported, syscall.EINVAL},
			want: `cthelper: delete helper "ftp" ipv4/tcp: ` + notSupported + `: netlink receive: invalid argument`,
		},
		{
			name: "delete without CAP_NET_ADMIN",
			k:    fakeKernel{delErr: syscall.EPERM},
			do:   del,
			is:   []error{syscall.EPERM, fs.ErrPermission},
			want: `cthelper: delete helper "ftp" ipv4/tcp: ` + capNetAdmin + `: netlink receive: operation not permitted`,
		},
		{
			name: "flush on a kernel without the subsystem",
			k:    fakeKernel{delErr: syscall.EINVAL},
			do:   flush,
			is:   []error{ErrNotSupported, syscall.EINVAL},
			want: `cthelper: flush: ` + notSupported + `: netlink receive: invalid argument`,
		},
		{
			name: "flush without CAP_NET_ADMIN",
			k:    fakeKernel{delErr: syscall.EPERM},
			do:   flush,
			is:   []error{syscall.EPERM},
			want: `cthelper: flush: ` + capNetAdmin + `: netlink receive: operation not permitted`,
		},
		{
			name: "probe, subsystem present",
			k:    fakeKernel{},
			do:   func(c *Conn) error { return c.probe() },
		},
		{
			name: "probe, EINVAL",
			k:    fakeKernel{dumpErr: syscall.EINVAL},
			do:   func(c *Conn) error { return c.probe() },
			is:   []error{ErrNotSupported, syscall.EINVAL},
			want: `cthelper: probe: ` + notSupported + `: netlink receive: invalid argument`,
		},
		{
			name: "probe, EOPNOTSUPP",
			k:    fakeKernel{dumpErr: syscall.EOPNOTSUPP},
			do:   func(c *Conn) error { return c.probe() },
			is:   []error{ErrNotSupported, syscall.EOPNOTSUPP},
			want: `cthelper: probe: ` + notSupported + `: netlink receive: operation not supported`,
		},
		{
			name: "probe, ENOENT",
			k:    fakeKernel{dumpErr: syscall.ENOENT},
			do:   func(c *Conn) error { return c.probe() },
			is:   []error{ErrNotSupported, syscall.ENOENT},
			want: `cthelper: probe: ` + notSupported + `: netlink receive: no such file or directory`,
		},
		{
			name: "probe, EPERM",
			k:    fakeKernel{dumpErr: syscall.EPERM},
			do:   func(c *Conn) error { return c.probe() },
			is:   []error{syscall.EPERM},
			not:  []error{ErrNotSupported},
			want: `cthelper: probe: ` + capNetAdmin + `: netlink receive: operation not permitted`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := tt.k
			err := tt.do(k.conn(t))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("unexpected message:\n got %s\nwant %s", got, tt.want)
			}
			for _, target := range tt.is {
				if !errors.Is(err, target) {
					t.Errorf("errors.Is(err, %v) = false, want true", target)
				}
			}
			for _, target := range tt.not {
				if errors.Is(err, target) {
					t.Errorf("errors.Is(err, %v) = true, want false", target)
				}
			}
		})
	}
}

// TestConnValidates checks that invalid input fails before any request.
func TestConnValidates(t *testing.T) {
	bad := ftp
	bad.Policies = nil
	tests := []struct {
		name string
		do   func(c *Conn) error
		want string
	}{
		{
			name: "create",
			do:   func(c *Conn) error { return c.Create(bad) },
			want: `cthelper: helper "ftp": needs 1..4 policies, got 0`,
		},
		{
			name: "update",
			do:   func(c *Conn) error { return c.Update(bad) },
			want: `cthelper: helper "ftp": needs 1..4 policies, got 0`,
		},
		{
			name: "get, long name",
			do: func(c *Conn) error {
				_, err := c.Get("abcdefghijklmnop", IPv4, TCP)
				return err
			},
			want: `cthelper: get helper "abcdefghijklmnop" ipv4/tcp: name must be at most 15 bytes, got 16`,
		},
		{
			name: "get, bad l3",
			do: func(c *Conn) error {
				_, err := c.Get("ftp", 7, TCP)
				return err
			},
			want: `cthelper: get helper "ftp" l3proto(7)/tcp: l3 must be ipv4 (2) or ipv6 (10), got 7`,
		},
		{
			name: "delete, empty name",
			do:   func(c *Conn) error { return c.Delete("", IPv4, TCP) },
			want: `cthelper: delete helper "" ipv4/tcp: name must not be empty`,
		},
		{
			name: "delete, bad l4",
			do:   func(c *Conn) error { return c.Delete("ftp", IPv6, 1) },
			want: `cthelper: delete helper "ftp" ipv6/l4proto(1): l4 must be tcp (6) or udp (17), got 1`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := &fakeKernel{}
			err := tt.do(k.conn(t))
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error:\n got %v\nwant %s", err, tt.want)
			}
			if len(k.reqs) != 0 {
				t.Fatalf("sent %d requests, want none", len(k.reqs))
			}
		})
	}
}
