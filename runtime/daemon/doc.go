// Package daemon runs ctlua against the kernel: it reads the
// configuration, loads the helper scripts into the engine, registers the
// kernel helpers, binds their queues and serves until stopped, reloading
// scripts on SIGHUP and on file changes.
package daemon
