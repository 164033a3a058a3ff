// Package hasync is the sync channel between the two ctlua daemons of an
// HA firewall pair (keepalived + conntrackd in sync mode, docs/ha.md).
//
// conntrackd replicates the connections and, with ExpectationSync, the
// expectations, but drops what a NAT helper needs on the backup: an
// expectation's NAT, class and expectation function (libnetfilter_conntrack
// never encodes them when it creates one), and the TCP sequence adjustment
// of a connection whose payload a rewrite made longer or shorter (the
// kernel raises no event for it). Each daemon sends its peer what its
// helpers did that conntrackd loses: every expectation, whole, and every
// change of a connection's sequence adjustment. The peer creates the
// expectations in its own kernel over ctnetlink as they come, once
// conntrackd has created the master there, so that a failover finds them
// in place; it keeps the adjustments and sets them on a connection at its
// first packet there (Node.Observe), when it has become the master.
//
// Messages are JSON objects, one per UDP datagram, on a dedicated link
// like conntrackd's own; a daemon takes them only from its configured
// peer's address.
package hasync
