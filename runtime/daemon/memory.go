package daemon

import (
	"runtime/debug"

	"golang.org/x/sys/unix"
)

// releaseMemory collects the garbage of a load or reload (compiled
// chunks, the replaced versions' Lua states) and returns the freed pages
// to the kernel at once. Go's collector would let the heap grow to twice
// its live size before collecting, and return pages only slowly: a daemon
// with every shipped helper went from 32 to 47 MB of RSS across one
// reload of all its scripts. A load is rare, the collection costs
// milliseconds, and the packet path never calls this.
func releaseMemory() { debug.FreeOSMemory() }

// noHugePages turns transparent huge pages off for the daemon's memory
// from now on. With Debian's default ("always"), the first byte written
// into an aligned 2 MB range of the Go heap, a queue's receive buffers or
// the runtime's own mappings made all 2 MB resident: with fifteen helpers
// 12-16 MB of the daemon's 28-30 MB of anonymous memory were huge pages.
// The daemon's working set is small and its memory goal is RSS, so the
// TLB misses huge pages save do not pay. Best effort: a kernel without
// PR_SET_THP_DISABLE keeps its huge pages.
func noHugePages() { _ = unix.Prctl(unix.PR_SET_THP_DISABLE, 1, 0, 0, 0) }
