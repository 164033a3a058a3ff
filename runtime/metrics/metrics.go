// Package metrics exposes the daemon's counters to Prometheus: a
// collector that reads the daemon's status at every scrape, and the HTTP
// listener serving /metrics. The engine and the queues count with atomics
// of their own; nothing here is on the packet path.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/ctlua/ctlua/runtime/control"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// A metric is one value read from a helper's or a queue's counters.
type metric[T any] struct {
	desc  *prometheus.Desc
	typ   prometheus.ValueType
	value func(*T) float64
}

func counter[T any](name, help string, labels []string, v func(*T) float64) metric[T] {
	return metric[T]{prometheus.NewDesc(name, help, labels, nil), prometheus.CounterValue, v}
}

func gauge[T any](name, help string, labels []string, v func(*T) float64) metric[T] {
	return metric[T]{prometheus.NewDesc(name, help, labels, nil), prometheus.GaugeValue, v}
}

var (
	helperLabel = []string{"helper"}
	queueLabels = []string{"helper", "queue"}
)

// helperMetrics are read from control.Helper, labelled by helper.
var helperMetrics = []metric[control.Helper]{
	counter("ctlua_packets_total", "Packets the helper's script ran on.", helperLabel, func(h *control.Helper) float64 { return float64(h.Counters.Packets) }),
	counter("ctlua_packets_skipped_total", "Packets accepted without running the helper because its declaration leaves them out (payload_only, match, lines).", helperLabel, func(h *control.Helper) float64 { return float64(h.Counters.Skipped) }),
	counter("ctlua_script_errors_total", "Calls that failed (errors, timeouts, bad returns, bounds) and got the default verdict.", helperLabel, func(h *control.Helper) float64 { return float64(h.Counters.Errors) }),
	counter("ctlua_script_timeouts_total", "Calls stopped because they ran past the time budget.", helperLabel, func(h *control.Helper) float64 { return float64(h.Counters.Timeouts) }),
	counter("ctlua_script_bad_returns_total", "Calls whose on_packet returned something other than accept, drop or nil.", helperLabel, func(h *control.Helper) float64 { return float64(h.Counters.BadReturns) }),
	counter("ctlua_script_limit_errors_total", "Calls failed by a sandbox bound other than time (a connection state too large).", helperLabel, func(h *control.Helper) float64 { return float64(h.Counters.Limits) }),
	counter("ctlua_calls_abandoned_total", "Calls whose worker was replaced because their Go code did not return.", helperLabel, func(h *control.Helper) float64 { return float64(h.Counters.Abandoned) }),
	counter("ctlua_reloads_total", "New versions of the script loaded after the first.", helperLabel, func(h *control.Helper) float64 { return float64(h.Counters.Reloads) }),
	counter("ctlua_reload_failures_total", "Reloads refused; the running version kept serving.", helperLabel, func(h *control.Helper) float64 { return float64(h.Counters.ReloadFailures) }),
	counter("ctlua_expectations_created_total", "Expectations the helper's verdicts carried.", helperLabel, func(h *control.Helper) float64 { return float64(h.Counters.Expectations) }),
	counter("ctlua_expectations_inserted_total", "Expectations inserted at once (expect.insert, expect.hunt) that the kernel accepted.", helperLabel, func(h *control.Helper) float64 { return float64(h.Counters.ExpectInserted) }),
	counter("ctlua_expectations_hunted_total", "Expectations expect.hunt inserted after looking for a free port.", helperLabel, func(h *control.Helper) float64 { return float64(h.Counters.ExpectHunted) }),
	counter("ctlua_expectations_refused_total", "Insertions at once the kernel refused (a hunt with no free port counts once).", helperLabel, func(h *control.Helper) float64 { return float64(h.Counters.ExpectRefused) }),
	counter("ctlua_expectation_hunt_clashes_total", "Ports a hunt found held by another connection's expectation.", helperLabel, func(h *control.Helper) float64 { return float64(h.Counters.HuntClashes) }),
	counter("ctlua_rewrites_total", "Packets the helper rewrote (NAT).", helperLabel, func(h *control.Helper) float64 { return float64(h.Counters.Rewrites) }),
	gauge("ctlua_states", "Per-connection states the helper holds.", helperLabel, func(h *control.Helper) float64 { return float64(h.Counters.States) }),
	counter("ctlua_state_evictions_total", "Per-connection states evicted, least recently used first, to keep within bounds.", helperLabel, func(h *control.Helper) float64 { return float64(h.Counters.StateEvictions) }),
	counter("ctlua_state_resets_total", "Connection states reset to an empty table because on_reload failed.", helperLabel, func(h *control.Helper) float64 { return float64(h.Counters.StateResets) }),
	counter("ctlua_log_records_suppressed_total", "Log records of the helper dropped by its rate limit.", helperLabel, func(h *control.Helper) float64 { return float64(h.Counters.LogsSuppressed) }),
	gauge("ctlua_helper_version", "Loads of the helper's script: 1 for the first, one more per reload.", helperLabel, func(h *control.Helper) float64 { return float64(h.Version) }),
	gauge("ctlua_helper_loaded_timestamp_seconds", "When the running version of the script was loaded, in seconds since the epoch.", helperLabel, func(h *control.Helper) float64 { return float64(h.Loaded.UnixNano()) / 1e9 }),
}

// queueMetrics are read from control.QueueCounters, labelled by helper
// and queue number.
var queueMetrics = []metric[control.QueueCounters]{
	counter("ctlua_queue_packets_total", "Packets received from the NFQUEUE.", queueLabels, func(q *control.QueueCounters) float64 { return float64(q.Packets) }),
	counter("ctlua_queue_verdicts_total", "Verdicts sent to the kernel.", queueLabels, func(q *control.QueueCounters) float64 { return float64(q.Verdicts) }),
	gauge("ctlua_queue_verdicts_outstanding", "Packets taken for the engine and not answered yet.", queueLabels, func(q *control.QueueCounters) float64 { return float64(q.Outstanding) }),
	counter("ctlua_queue_enobufs_total", "Receive errors ENOBUFS: the kernel dropped queue messages for the daemon.", queueLabels, func(q *control.QueueCounters) float64 { return float64(q.ENOBUFS) }),
	counter("ctlua_queue_send_errors_total", "Verdict writes that failed and verdicts the kernel refused.", queueLabels, func(q *control.QueueCounters) float64 { return float64(q.SendErrors) }),
	counter("ctlua_queue_overflows_total", "Packets answered with the default verdict because their lane was stalled.", queueLabels, func(q *control.QueueCounters) float64 { return float64(q.Overflows) }),
	counter("ctlua_queue_abandoned_total", "Packets answered with the default verdict because the engine did not return them in time.", queueLabels, func(q *control.QueueCounters) float64 { return float64(q.Abandoned) }),
	counter("ctlua_queue_without_conntrack_total", "Packets queued without conntrack information, accepted.", queueLabels, func(q *control.QueueCounters) float64 { return float64(q.WithoutConntrack) }),
	counter("ctlua_queue_unparsable_total", "Packets that could not be decoded, accepted.", queueLabels, func(q *control.QueueCounters) float64 { return float64(q.Unparsable) }),
	counter("ctlua_queue_extra_expectations_total", "Expectations after a verdict's first, created over ctnetlink.", queueLabels, func(q *control.QueueCounters) float64 { return float64(q.ExtraExpectations) }),
	counter("ctlua_queue_extra_expectation_errors_total", "Expectations after a verdict's first that ctnetlink refused.", queueLabels, func(q *control.QueueCounters) float64 { return float64(q.ExtraExpectationErrors) }),
	counter("ctlua_queue_seqadj_fixes_total", "IPv6 rewrites whose sequence adjustment was corrected over ctnetlink.", queueLabels, func(q *control.QueueCounters) float64 { return float64(q.SeqAdjustFixes) }),
	counter("ctlua_queue_seqadj_fix_errors_total", "Sequence adjustment corrections that failed.", queueLabels, func(q *control.QueueCounters) float64 { return float64(q.SeqAdjustFixErrors) }),
	counter("ctlua_queue_inline_total", "Packets answered by the receive loop without entering the engine.", queueLabels, func(q *control.QueueCounters) float64 { return float64(q.Inline) }),
	counter("ctlua_queue_inline_runs_total", "Packets the receive loop ran in the engine itself.", queueLabels, func(q *control.QueueCounters) float64 { return float64(q.InlineRuns) }),
}

var (
	verdictsDesc = prometheus.NewDesc("ctlua_verdicts_total", "Verdicts the helper gave, by kind (failed calls count under their default verdict).",
		[]string{"helper", "verdict"}, nil)
	latencyDesc = prometheus.NewDesc("ctlua_packet_duration_seconds", "Time one packet spends in the engine, the script's call included.",
		helperLabel, nil)
	infoDesc = prometheus.NewDesc("ctlua_helper_info", "The running version of each helper: its script file and source SHA-256.",
		[]string{"helper", "file", "sha256"}, nil)
	buildDesc   = prometheus.NewDesc("ctlua_build_info", "The daemon's ctlua release.", []string{"version"}, nil)
	workersDesc = prometheus.NewDesc("ctlua_workers", "Lua workers of the engine.", nil, nil)
)

// A Collector turns the daemon's status into metrics at every scrape.
type Collector struct {
	status func() control.Status
}

// NewCollector returns a collector reading status.
func NewCollector(status func() control.Status) *Collector { return &Collector{status: status} }

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range helperMetrics {
		ch <- m.desc
	}
	for _, m := range queueMetrics {
		ch <- m.desc
	}
	ch <- verdictsDesc
	ch <- latencyDesc
	ch <- infoDesc
	ch <- buildDesc
	ch <- workersDesc
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.status()
	ch <- prometheus.MustNewConstMetric(buildDesc, prometheus.GaugeValue, 1, st.Version)
	ch <- prometheus.MustNewConstMetric(workersDesc, prometheus.GaugeValue, float64(st.Workers))
	for i := range st.Helpers {
		h := &st.Helpers[i]
		for _, m := range helperMetrics {
			ch <- prometheus.MustNewConstMetric(m.desc, m.typ, m.value(h), h.Name)
		}
		ch <- prometheus.MustNewConstMetric(verdictsDesc, prometheus.CounterValue, float64(h.Counters.Accepted), h.Name, "accept")
		ch <- prometheus.MustNewConstMetric(verdictsDesc, prometheus.CounterValue, float64(h.Counters.Dropped), h.Name, "drop")
		ch <- prometheus.MustNewConstMetric(infoDesc, prometheus.GaugeValue, 1, h.Name, h.File, h.SHA256)
		ch <- latencyMetric(h)
		if q := h.QueueCounters; q != nil {
			n := strconv.Itoa(int(h.Queue))
			for _, m := range queueMetrics {
				ch <- prometheus.MustNewConstMetric(m.desc, m.typ, m.value(q), h.Name, n)
			}
		}
	}
}

// latencyMetric turns the helper's histogram (per bucket) into
// Prometheus's (cumulative).
func latencyMetric(h *control.Helper) prometheus.Metric {
	l := h.Latency
	buckets := make(map[float64]uint64, len(l.BoundsSeconds))
	var cum uint64
	for i, b := range l.BoundsSeconds {
		if i < len(l.Buckets) {
			cum += l.Buckets[i]
		}
		buckets[b] = cum
	}
	return prometheus.MustNewConstHistogram(latencyDesc, l.Count, l.SumSeconds, buckets, h.Name)
}

// Handler returns the /metrics handler for status, with the Go runtime's
// and the process's metrics.
func Handler(status func() control.Status) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(status), collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// A Server serves /metrics on one address.
type Server struct {
	ln  net.Listener
	srv *http.Server
}

// Listen binds addr ("127.0.0.1:9469"; a bare ":9469" listens on every
// address).
func Listen(addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return &Server{ln: ln}, nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve serves /metrics for status until Close, on its own goroutine.
func (s *Server) Serve(status func() control.Status, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", Handler(status))
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener stopped", "error", err)
		}
	}()
}

// Close stops the server.
func (s *Server) Close() error {
	if s.srv == nil {
		return s.ln.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}
