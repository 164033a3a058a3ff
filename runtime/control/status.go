package control

import (
	"encoding/hex"
	"strings"
	"time"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/runtime/nfq"
)

// Status is the daemon's state as `ctlua status` shows it.
type Status struct {
	// Version is the ctlua release of the daemon.
	Version string    `json:"version"`
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
	// UptimeSeconds is how long the daemon has served, when the status
	// was taken.
	UptimeSeconds float64  `json:"uptime_seconds"`
	Workers       int      `json:"workers"`
	Helpers       []Helper `json:"helpers"`
}

// Helper is one configured helper: its running version, its counters and
// its queue's.
type Helper struct {
	Name string `json:"name"`
	// Script is the configured script ("builtin:ftp" or a path) and File
	// the file the running version was loaded from.
	Script string `json:"script"`
	File   string `json:"file"`
	// SHA256 is the hex SHA-256 of the running version's source.
	SHA256 string `json:"sha256"`
	// Version counts the loads of the helper: 1 for the first.
	Version  uint64    `json:"version"`
	Loaded   time.Time `json:"loaded"`
	Queue    uint16    `json:"queue"`
	L3       []string  `json:"l3"`
	L4       string    `json:"l4"` // "tcp", "udp", or "tcp+udp" for a helper of both
	Counters Counters  `json:"counters"`
	// QueueCounters are absent while the queue is not bound yet.
	QueueCounters *QueueCounters `json:"queue_counters,omitempty"`
	Latency       Latency        `json:"latency"`
	// RecentErrors are the last script errors, timeouts and failed
	// reloads, oldest first.
	RecentErrors []ErrorRecord `json:"recent_errors"`
	// LastReload is the outcome of the last reload asked for (SIGHUP,
	// file change, `ctlua reload`), if any.
	LastReload *ReloadResult `json:"last_reload,omitempty"`
}

// Counters are a helper's engine counters (engine.Stats).
type Counters struct {
	Packets        uint64 `json:"packets"`
	Skipped        uint64 `json:"skipped"`
	Accepted       uint64 `json:"accepted"`
	Dropped        uint64 `json:"dropped"`
	Expectations   uint64 `json:"expectations"`
	ExpectInserted uint64 `json:"expectations_inserted"`
	ExpectHunted   uint64 `json:"expectations_hunted"`
	ExpectRefused  uint64 `json:"expectations_refused"`
	HuntClashes    uint64 `json:"hunt_clashes"`
	Rewrites       uint64 `json:"rewrites"`
	Errors         uint64 `json:"errors"`
	Timeouts       uint64 `json:"timeouts"`
	BadReturns     uint64 `json:"bad_returns"`
	LoadErrors     uint64 `json:"load_errors"`
	Limits         uint64 `json:"limits"`
	Abandoned      uint64 `json:"abandoned"`
	Reloads        uint64 `json:"reloads"`
	ReloadFailures uint64 `json:"reload_failures"`
	LogsSuppressed uint64 `json:"logs_suppressed"`
	States         int64  `json:"states"`
	StateEvictions uint64 `json:"state_evictions"`
	StateResets    uint64 `json:"state_resets"`
}

// QueueCounters are a helper queue's counters (nfq.Stats).
type QueueCounters struct {
	Packets                uint64 `json:"packets"`
	Verdicts               uint64 `json:"verdicts"`
	Outstanding            int64  `json:"outstanding"`
	WithoutConntrack       uint64 `json:"without_conntrack"`
	Unparsable             uint64 `json:"unparsable"`
	ENOBUFS                uint64 `json:"enobufs"`
	SendErrors             uint64 `json:"send_errors"`
	ExtraExpectations      uint64 `json:"extra_expectations"`
	ExtraExpectationErrors uint64 `json:"extra_expectation_errors"`
	SeqAdjustFixes         uint64 `json:"seq_adjust_fixes"`
	SeqAdjustFixErrors     uint64 `json:"seq_adjust_fix_errors"`
	Overflows              uint64 `json:"overflows"`
	Abandoned              uint64 `json:"abandoned"`
	Inline                 uint64 `json:"inline"`
	InlineRuns             uint64 `json:"inline_runs"`
}

// Latency is the histogram of the time one packet spends in the engine:
// Buckets[i] counts the packets over BoundsSeconds[i-1] and up to
// BoundsSeconds[i], the last one those over every bound.
type Latency struct {
	BoundsSeconds []float64 `json:"bounds_seconds"`
	Buckets       []uint64  `json:"buckets"`
	Count         uint64    `json:"count"`
	SumSeconds    float64   `json:"sum_seconds"`
}

// An ErrorRecord is one recent failure of a helper.
type ErrorRecord struct {
	Time time.Time `json:"time"`
	Kind string    `json:"kind"`
	At   string    `json:"at,omitempty"`
	Msg  string    `json:"msg"`
}

// A ReloadResult says whether a reload of one helper loaded a new
// version, and why not when it did not.
type ReloadResult struct {
	Helper string    `json:"helper"`
	Time   time.Time `json:"time"`
	Loaded bool      `json:"loaded"`
	// Version and SHA256 are the running version's after the reload:
	// the new one, or the old one that kept serving.
	Version uint64 `json:"version"`
	SHA256  string `json:"sha256"`
	Error   string `json:"error,omitempty"`
}

// HelperOf fills the engine's part of a helper's status: the running
// version h, its counters st and recent errors.
func HelperOf(h *engine.Helper, st engine.Stats, recent []engine.ErrorRecord) Helper {
	out := Helper{Name: h.Spec.Name, File: h.File, SHA256: hex.EncodeToString(h.Hash[:]), Version: h.Version,
		Loaded: h.Loaded, L3: h.Spec.L3Names(), L4: strings.Join(h.Spec.L4Names(), "+"),
		Counters: Counters{Packets: st.Packets, Skipped: st.Skipped, Accepted: st.Accepted, Dropped: st.Dropped,
			Expectations: st.Expectations, ExpectInserted: st.ExpectInserted, ExpectHunted: st.ExpectHunted,
			ExpectRefused: st.ExpectRefused, HuntClashes: st.HuntClashes, Rewrites: st.Mangled,
			Errors: st.Errors, Timeouts: st.Timeouts, BadReturns: st.BadReturns, LoadErrors: st.LoadErrors,
			Limits: st.Limits, Abandoned: st.Abandoned, Reloads: st.Reloads, ReloadFailures: st.ReloadFailures,
			LogsSuppressed: st.LogsSuppressed, States: st.States, StateEvictions: st.StateEvictions,
			StateResets: st.StateResets},
		Latency:      latencyOf(st.Latency),
		RecentErrors: []ErrorRecord{},
	}
	for _, r := range recent {
		out.RecentErrors = append(out.RecentErrors, ErrorRecord(r))
	}
	return out
}

func latencyOf(h engine.Histogram) Latency {
	l := Latency{Buckets: h.Buckets[:], Count: h.Count, SumSeconds: h.Sum.Seconds()}
	for _, b := range engine.LatencyBounds {
		l.BoundsSeconds = append(l.BoundsSeconds, b.Seconds())
	}
	return l
}

// QueueOf converts a queue's counters.
func QueueOf(st nfq.Stats) *QueueCounters {
	return &QueueCounters{Packets: st.Packets, Verdicts: st.Verdicts, Outstanding: st.Outstanding,
		WithoutConntrack: st.WithoutConntrack, Unparsable: st.Unparsable, ENOBUFS: st.ENOBUFS,
		SendErrors: st.SendErrors, ExtraExpectations: st.ExtraExpectations,
		ExtraExpectationErrors: st.ExtraExpectationErrors, SeqAdjustFixes: st.SeqAdjustFixes,
		SeqAdjustFixErrors: st.SeqAdjustFixErrors, Overflows: st.Overflows, Abandoned: st.Abandoned,
		Inline: st.Inline, InlineRuns: st.InlineRuns}
}
