// Package engine runs conntrack helpers written in Lua.
//
// An Engine loads helper scripts, validates their declarations and turns
// "a packet of a tracked connection" into exactly one [Decision]: a verdict,
// expectations, conntrack updates, an optional rewritten packet and log
// records. The engine is pure Go: it never talks to the kernel. The runtime
// packages feed it packets from NFQUEUE, and the replay command feeds it
// packets from a capture.
//
// # Concurrency
//
// An Engine is safe for concurrent use. Each worker owns one Lua state, and
// packets are spread over workers by connection, so the packets of one
// connection always run on the same state, in the order the caller hands them
// over. A Lua state is never shared between goroutines.
//
// # Failure
//
// A script that raises an error, runs past its time budget or returns a bad
// value never leaves a packet without a verdict: the engine applies the
// helper's default verdict, counts the error and records it with the
// script's file and line in [Decision.Err].
//
// # Reload
//
// [Engine.Load] compiles and validates a new version of a helper and swaps it
// in atomically between packets. When the new version fails to compile or
// validate, the running version stays and the error says why.
// Per-connection Lua state survives a reload; a script may migrate it with an
// on_reload hook.
package engine
