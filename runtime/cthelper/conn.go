package cthelper

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/mdlayher/netlink"
)

// A Conn is a connection to the kernel's nfnetlink_cthelper subsystem.
// Its methods are safe for concurrent use.
type Conn struct {
	c *netlink.Conn
}

// Dial opens a NETLINK_NETFILTER socket for nfnetlink_cthelper requests.
// If cfg is nil, a default configuration is used.
//
// Use a socket of its own for cthelper requests, not the socket of an
// NFQUEUE, whose replies would mix with queued packets.
func Dial(cfg *netlink.Config) (*Conn, error) {
	c, err := netlink.Dial(netlinkNetfilter, cfg)
	if err != nil {
		if errors.Is(err, syscall.EPROTONOSUPPORT) {
			// No nfnetlink at all.
			return nil, fmt.Errorf("cthelper: dial: %w: %w", ErrNotSupported, err)
		}
		return nil, fmt.Errorf("cthelper: dial: %w", err)
	}
	return NewConn(c), nil
}

// NewConn returns a Conn that sends its requests on c, which must be a
// NETLINK_NETFILTER connection. It lets tests use a fake such as the
// connections of github.com/mdlayher/netlink/nltest. The Conn owns c:
// closing the Conn closes c.
func NewConn(c *netlink.Conn) *Conn {
	return &Conn{c: c}
}

// Close closes the connection.
func (c *Conn) Close() error {
	return c.c.Close()
}

// Probe reports whether the kernel has nfnetlink_cthelper, with a
// harmless request that lists the user-space helpers. It returns nil if
// it does, an error wrapping ErrNotSupported if it does not, and another
// error if the probe itself failed, for example for lack of CAP_NET_ADMIN.
// cfg is passed to Dial.
func Probe(cfg *netlink.Config) error {
	c, err := Dial(cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.probe()
}

func (c *Conn) probe() error {
	if _, err := c.execute(msgGet, netlink.Dump, nil); err != nil {
		return kernelError(opProbe, nil, err, nil)
	}
	return nil
}

// Create registers h with the kernel. It fails if h is not valid (see
// [Helper.Validate]), if a user-space helper with the same name and
// protocols exists (the error wraps syscall.EEXIST: use Update), or if an
// in-kernel helper has the same name and protocols (the error wraps
// syscall.EBUSY: unload its nf_conntrack_<name> module or pick another
// name).
func (c *Conn) Create(h Helper) error {
	if err := h.Validate(); err != nil {
		return err
	}
	k := h.key()
	attrs, err := h.marshal(true)
	if err != nil {
		return fmt.Errorf("cthelper: create %s: %w", k, err)
	}
	if _, err := c.execute(msgNew, netlink.Acknowledge|netlink.Create|netlink.Excl, attrs); err != nil {
		return kernelError(opCreate, &k, err, c.probe)
	}
	return nil
}

// Update changes the registered helper with the name and protocols of h
// to have the queue number, status and policy limits (MaxExpected and
// Timeout) of h. Connections that use the helper keep it.
//
// The kernel cannot change the number or the names of the policies, nor
// the private data size, of a registered helper: that needs Delete and
// Create. Update compares them with the registered helper first and
// fails, wrapping syscall.EBUSY, if they differ. It fails with
// ErrNotFound if no such helper is registered.
func (c *Conn) Update(h Helper) error {
	if err := h.Validate(); err != nil {
		return err
	}
	k := h.key()
	cur, err := c.find(opUpdate, k)
	if err != nil {
		return err
	}
	if err := sameLayout(cur, h); err != nil {
		return fmt.Errorf("cthelper: update %s: %w: needs delete and re-registration: %w", k, err, syscall.EBUSY)
	}
	// Without NFCTH_PRIV_DATA_LEN: older kernels refuse any update that
	// carries it with EBUSY, even when it is unchanged.
	attrs, err := h.marshal(false)
	if err != nil {
		return fmt.Errorf("cthelper: update %s: %w", k, err)
	}
	if _, err := c.execute(msgNew, netlink.Acknowledge, attrs); err != nil {
		return kernelError(opUpdate, &k, err, c.probe)
	}
	return nil
}

// sameLayout reports, as an error, what the kernel would refuse to change
// from the registered helper cur to h.
func sameLayout(cur, h Helper) error {
	if len(cur.Policies) != len(h.Policies) {
		return fmt.Errorf("policy count changed from %d to %d", len(cur.Policies), len(h.Policies))
	}
	for i := range cur.Policies {
		if a, b := cur.Policies[i].Name, h.Policies[i].Name; a != b {
			return fmt.Errorf("policy %d name changed from %q to %q", i, a, b)
		}
	}
	if cur.PrivSize != h.PrivSize {
		return fmt.Errorf("private data size changed from %d to %d", cur.PrivSize, h.PrivSize)
	}
	return nil
}

// Get returns the registered user-space helper with the name and
// protocols, or an error wrapping ErrNotFound.
func (c *Conn) Get(name string, l3 L3Proto, l4 uint8) (Helper, error) {
	k := key{name: name, l3: l3, l4: l4}
	if err := k.validate(opGet); err != nil {
		return Helper{}, err
	}
	return c.find(opGet, k)
}

// find looks the helper k up in a dump. The kernel's own lookup (GET
// without NLM_F_DUMP) cannot be used: it answers with a single message
// flagged NLM_F_MULTI but no NLMSG_DONE, on which netlink.Conn waits for
// the rest of a multi-part reply forever.
func (c *Conn) find(o op, k key) (Helper, error) {
	hs, err := c.list(o, &k)
	if err != nil {
		return Helper{}, err
	}
	for _, h := range hs {
		if h.Name == k.name && h.L3 == k.l3 && h.L4 == k.l4 {
			return h, nil
		}
	}
	return Helper{}, fmt.Errorf("cthelper: %s %s: %w", o, k, ErrNotFound)
}

// List returns all user-space helpers registered with the kernel, by all
// processes. In-kernel helpers are not listed.
func (c *Conn) List() ([]Helper, error) {
	return c.list(opList, nil)
}

func (c *Conn) list(o op, k *key) ([]Helper, error) {
	msgs, err := c.execute(msgGet, netlink.Dump, nil)
	if err != nil {
		return nil, kernelError(o, k, err, nil)
	}
	var hs []Helper
	for _, m := range msgs {
		if m.Header.Type != msgType(msgNew) {
			continue
		}
		h, err := unmarshalHelper(m.Data)
		if err != nil {
			return nil, fmt.Errorf("cthelper: %s: decode reply: %w", o, err)
		}
		hs = append(hs, h)
	}
	return hs, nil
}

// Delete unregisters the user-space helper with the name and protocols.
// The kernel detaches it from the connections that use it and removes
// their expectations.
//
// The error wraps ErrNotFound if no such helper exists, except that the
// kernel reports success when it has no user-space helper at all.
func (c *Conn) Delete(name string, l3 L3Proto, l4 uint8) error {
	k := key{name: name, l3: l3, l4: l4}
	if err := k.validate(opDelete); err != nil {
		return err
	}
	ae := newEncoder()
	encodeKey(ae, k.name, k.l3, k.l4)
	attrs, err := ae.Encode()
	if err != nil {
		return fmt.Errorf("cthelper: delete %s: %w", k, err)
	}
	if _, err := c.execute(msgDel, netlink.Acknowledge, attrs); err != nil {
		return kernelError(opDelete, &k, err, c.probe)
	}
	return nil
}

// Flush unregisters every user-space helper in the kernel, including
// those of other processes, as Delete does for one.
func (c *Conn) Flush() error {
	if _, err := c.execute(msgDel, netlink.Acknowledge, nil); err != nil {
		// Without attributes nothing can be invalid: no probe needed.
		return kernelError(opFlush, nil, err, nil)
	}
	return nil
}

// execute sends cthelper message msg with the attributes and returns the
// replies.
func (c *Conn) execute(msg uint16, flags netlink.HeaderFlags, attrs []byte) ([]netlink.Message, error) {
	return c.c.Execute(netlink.Message{
		Header: netlink.Header{Type: msgType(msg), Flags: netlink.Request | flags},
		Data:   withHeader(attrs),
	})
}

func (h Helper) key() key {
	return key{name: h.Name, l3: h.L3, l4: h.L4}
}

// validate checks k before a request that looks a helper up.
func (k key) validate(o op) error {
	if err := checkName(k.name); err != nil {
		return fmt.Errorf("cthelper: %s %s: name %w", o, k, err)
	}
	if err := checkProtos(k.l3, k.l4); err != nil {
		return fmt.Errorf("cthelper: %s %s: %w", o, k, err)
	}
	return nil
}
