// Package replay runs a helper offline on the packets of a capture file,
// with a simulated conntrack, so that a protocol helper can be written and
// tested without root and without a kernel.
//
// The simulated conntrack follows the kernel's rules closely enough for
// helpers: connections keyed by their original and reply tuples, ctinfo
// NEW / ESTABLISHED / RELATED / ESTABLISHED_REPLY, status bits, and
// expectations that make a later connection RELATED to its master, with
// the policy's timeout and max_expected. There is no NAT: replies are the
// reverse of the original tuple.
package replay
