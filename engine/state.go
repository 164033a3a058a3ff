package engine

import (
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// A connState is the per-connection state of one helper, an entry of a
// stateTable's LRU list: the Lua table (nil until conn:state() is first
// called) and the engine's line tracking.
type connState struct {
	key        ConnKey
	tbl        *lua.LTable
	lines      lineTrack
	version    uint64
	used       int64 // UnixNano of the last packet
	bytes      int   // estimated size when last measured
	prev, next *connState
}

// A stateTable holds one helper's per-connection states in one worker,
// bounded in count and estimated bytes. The least recently used state is
// evicted first, in O(1); idle states expire from the same end.
type stateTable struct {
	m        map[ConnKey]*connState
	root     connState // root.next is the most recent, root.prev the least
	bytes    int
	maxBytes int
	maxCount int
	idle     time.Duration
	onEvict  func() // counts an eviction
	touched  *connState
	size     *sizer
	// live is len(m), readable from other goroutines (Stats.States).
	live atomic.Int64
}

func newStateTable(maxBytes, maxCount int, idle time.Duration, onEvict func()) *stateTable {
	t := &stateTable{m: map[ConnKey]*connState{}, maxBytes: maxBytes, maxCount: maxCount, idle: idle, onEvict: onEvict,
		size: newSizer()}
	t.root.next, t.root.prev = &t.root, &t.root
	return t
}

// get returns k's state and makes it the most recent, or nil.
func (t *stateTable) get(k ConnKey, now int64) *connState {
	cs := t.m[k]
	if cs == nil {
		return nil
	}
	cs.used = now
	t.unlink(cs)
	t.pushFront(cs)
	return cs
}

// line returns k's state for line tracking, adding one without a Lua
// table when k has none.
func (t *stateTable) line(k ConnKey, version uint64, now int64) *connState {
	if cs := t.get(k, now); cs != nil {
		return cs
	}
	return t.add(k, nil, version, now)
}

// add inserts a new state for k, evicting the least recently used states
// over the count bound.
func (t *stateTable) add(k ConnKey, tbl *lua.LTable, version uint64, now int64) *connState {
	cs := &connState{key: k, tbl: tbl, version: version, used: now}
	t.m[k] = cs
	t.live.Add(1)
	t.pushFront(cs)
	t.evict()
	return cs
}

// resize records the measured size of cs and evicts over the byte bound.
func (t *stateTable) resize(cs *connState, bytes int) {
	t.bytes += bytes - cs.bytes
	cs.bytes = bytes
	t.evict()
}

// evict drops least recently used states until both bounds hold; the
// state in use by the running call is kept.
func (t *stateTable) evict() {
	for (len(t.m) > t.maxCount || t.bytes > t.maxBytes) && t.root.prev != &t.root {
		cs := t.root.prev
		if cs == t.touched {
			return
		}
		t.remove(cs)
		t.onEvict()
	}
}

// expire drops the states idle for longer than the idle bound, oldest
// first: O(1) when none is due.
func (t *stateTable) expire(now int64) {
	cutoff := now - int64(t.idle)
	for cs := t.root.prev; cs != &t.root && cs.used < cutoff; cs = t.root.prev {
		t.remove(cs)
	}
}

func (t *stateTable) remove(cs *connState) {
	if t.m[cs.key] != cs {
		return
	}
	delete(t.m, cs.key)
	t.live.Add(-1)
	t.unlink(cs)
	t.bytes -= cs.bytes
	if t.touched == cs {
		t.touched = nil
	}
}

func (t *stateTable) forget(k ConnKey) {
	if cs := t.m[k]; cs != nil {
		t.remove(cs)
	}
}

func (t *stateTable) unlink(cs *connState) {
	cs.prev.next, cs.next.prev = cs.next, cs.prev
	cs.prev, cs.next = nil, nil
}

func (t *stateTable) pushFront(cs *connState) {
	cs.prev, cs.next = &t.root, t.root.next
	t.root.next.prev = cs
	t.root.next = cs
}
