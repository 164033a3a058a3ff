// Package cthelper registers user-space conntrack helpers with the Linux
// kernel through nfnetlink_cthelper, the subsystem behind `nfct add helper`,
// `nfct list helper` and `nfct del helper`.
//
// A registered [Helper] makes the kernel queue every packet of the
// connections it is attached to (by an iptables `-j CT --helper` or nftables
// `ct helper` rule) to the NFQUEUE number [Helper.QueueNum], where a
// user-space daemon inspects them and answers with expectations. The helper
// also fixes the expectation classes ([Policy]) and the size of the private
// data each connection carries ([Helper.PrivSize]).
//
// # Kernel requirements
//
// The kernel needs CONFIG_NF_CT_NETLINK_HELPER (module nfnetlink_cthelper,
// loaded on demand by the first request when modules are available). Without
// it every request fails with an error that wraps [ErrNotSupported]; [Probe]
// tells the cases apart before any change is made:
//
//	err == nil:                            the subsystem is available
//	errors.Is(err, cthelper.ErrNotSupported): the kernel lacks nfnetlink_cthelper
//	err != nil:                            the probe could not be run (for example EPERM)
//
// Every request needs CAP_NET_ADMIN in the initial user namespace: the kernel
// checks capable(), not ns_capable(), so a container with its own user
// namespace cannot register helpers even as its root.
//
// # Global state
//
// User-space helpers are global to the kernel, not per network namespace.
// [Conn.Delete] and [Conn.Flush] detach the deleted helpers from existing
// connections and remove their expectations, so live flows lose their
// helper. A daemon should keep its registration stable across restarts and
// reloads, and change queue number, status and policy limits with
// [Conn.Update], which never disturbs existing flows.
//
// # Errors
//
// Errors from the kernel wrap the netlink error, so errors.Is works with the
// errno (syscall.EBUSY, ...) and with fs.ErrExist and fs.ErrPermission.
// Their messages say what to do about them. A missing helper is reported
// as [ErrNotFound], a missing subsystem as [ErrNotSupported].
//
// This package has no state of its own; a [Conn] is safe for concurrent use.
// On systems other than Linux, [Dial] returns an error.
package cthelper
