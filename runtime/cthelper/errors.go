package cthelper

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
)

// ErrNotSupported is wrapped by the errors of a kernel without
// nfnetlink_cthelper. Such a kernel answers every cthelper request with
// EINVAL (unknown nfnetlink subsystem), the same errno that a kernel with
// the subsystem gives for a bad request; the package runs [Probe] to tell
// the two apart.
var ErrNotSupported = errors.New("kernel has no nfnetlink_cthelper (CONFIG_NF_CT_NETLINK_HELPER); try `modprobe nfnetlink_cthelper`")

// ErrNotFound is wrapped by the errors of [Conn.Get], [Conn.Update] and
// [Conn.Delete] when the kernel has no user-space helper with the name and
// protocols asked for.
var ErrNotFound = errors.New("no such user-space helper in the kernel")

// An op is a request of this package, named as in error messages.
type op string

const (
	opCreate op = "create"
	opUpdate op = "update"
	opGet    op = "get"
	opList   op = "list"
	opDelete op = "delete"
	opFlush  op = "flush"
	opProbe  op = "probe"
)

// A key identifies a helper in the kernel.
type key struct {
	name string
	l3   L3Proto
	l4   uint8
}

// String names the helper in error messages.
func (k key) String() string {
	return fmt.Sprintf("helper %q %s/%s", k.name, k.l3, l4String(k.l4))
}

// kernelError turns the error of a netlink request into one that says what
// to do about it, wrapping err so that errors.Is still finds the errno.
// k is the helper of the request, if any. probe reports whether the kernel has
// nfnetlink_cthelper; it is called only to explain the EINVAL of a request
// with attributes. It is nil for requests without attributes (dumps and
// flush), whose EINVAL and ENOENT can only mean that the subsystem is
// missing.
func kernelError(o op, k *key, err error, probe func() error) error {
	prefix := "cthelper: " + string(o)
	if k != nil {
		prefix += " " + k.String()
	}
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return fmt.Errorf("%s: %w", prefix, err)
	}
	notSupported := fmt.Errorf("%s: %w: %w", prefix, ErrNotSupported, err)
	switch errno {
	case syscall.EPERM:
		return fmt.Errorf("%s: needs CAP_NET_ADMIN in the initial user namespace: %w", prefix, err)
	case syscall.EOPNOTSUPP, syscall.EPROTONOSUPPORT:
		return notSupported
	case syscall.EINVAL:
		if probe == nil {
			return notSupported
		}
		if perr := probe(); errors.Is(perr, ErrNotSupported) {
			return notSupported
		}
		return fmt.Errorf("%s: the kernel rejected the request as malformed (a bug in this package or a kernel incompatibility): %w", prefix, err)
	case syscall.ENOENT:
		if probe == nil {
			return notSupported
		}
		if o == opDelete {
			return fmt.Errorf("%s: %w: %w", prefix, ErrNotFound, err)
		}
	case syscall.EBUSY:
		switch o {
		case opCreate:
			return fmt.Errorf("%s: a helper named %q exists in the kernel (is nf_conntrack_%s loaded?): %w",
				prefix, k.name, strings.ReplaceAll(k.name, "-", "_"), err)
		case opUpdate:
			return fmt.Errorf("%s: policy names/count or private data size changed: needs delete and re-registration: %w", prefix, err)
		}
	case syscall.EEXIST:
		if o == opCreate {
			return fmt.Errorf("%s: the helper exists (update it instead): %w", prefix, err)
		}
	}
	return fmt.Errorf("%s: %w", prefix, err)
}
