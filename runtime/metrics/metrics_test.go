package metrics

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/runtime/control"
	"github.com/ctlua/ctlua/runtime/nfq"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// status builds a daemon status whose counters grow with n, through the
// same conversions the daemon uses.
func status(n uint64) control.Status {
	h := &engine.Helper{Spec: engine.Spec{Name: "ftp", IPv4: true, Proto: engine.ProtoTCP}, File: "builtin/ftp/helper.lua", Version: 2}
	st := engine.Stats{Packets: 10 * n, Accepted: 9 * n, Dropped: n, Expectations: 3 * n, Errors: n, Timeouts: n,
		Reloads: 1, ReloadFailures: 1, States: 4, StateEvictions: n, ExpectRefused: n}
	st.Latency.Buckets[0], st.Latency.Buckets[3], st.Latency.Buckets[len(engine.LatencyBounds)] = 2*n, n, n
	st.Latency.Count, st.Latency.Sum = 4*n, time.Duration(n)*time.Second
	hs := control.HelperOf(h, st, nil)
	hs.Queue = 3
	hs.QueueCounters = control.QueueOf(nfq.Stats{Packets: 12 * n, Verdicts: 12 * n, ENOBUFS: n, SendErrors: 2 * n, Outstanding: 1})
	return control.Status{Version: "v9", Workers: 2, Helpers: []control.Helper{hs}}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("scrape: %s: %s", resp.Status, b)
	}
	return string(b)
}

func TestScrape(t *testing.T) {
	var n atomic.Uint64
	n.Store(1)
	srv := httptest.NewServer(Handler(func() control.Status { return status(n.Load()) }))
	defer srv.Close()
	before := scrape(t, srv.URL)
	n.Store(5)
	after := scrape(t, srv.URL)
	tests := []struct{ before, after string }{
		{`ctlua_packets_total{helper="ftp"} 10`, `ctlua_packets_total{helper="ftp"} 50`},
		{`ctlua_verdicts_total{helper="ftp",verdict="drop"} 1`, `ctlua_verdicts_total{helper="ftp",verdict="drop"} 5`},
		{`ctlua_script_timeouts_total{helper="ftp"} 1`, `ctlua_script_timeouts_total{helper="ftp"} 5`},
		{`ctlua_expectations_refused_total{helper="ftp"} 1`, `ctlua_expectations_refused_total{helper="ftp"} 5`},
		{`ctlua_queue_enobufs_total{helper="ftp",queue="3"} 1`, `ctlua_queue_enobufs_total{helper="ftp",queue="3"} 5`},
		{`ctlua_queue_send_errors_total{helper="ftp",queue="3"} 2`, `ctlua_queue_send_errors_total{helper="ftp",queue="3"} 10`},
		{`ctlua_queue_verdicts_outstanding{helper="ftp",queue="3"} 1`, `ctlua_queue_verdicts_outstanding{helper="ftp",queue="3"} 1`},
		{`ctlua_states{helper="ftp"} 4`, `ctlua_states{helper="ftp"} 4`},
		{`ctlua_packet_duration_seconds_bucket{helper="ftp",le="1e-05"} 2`, `ctlua_packet_duration_seconds_bucket{helper="ftp",le="1e-05"} 10`},
		{`ctlua_packet_duration_seconds_bucket{helper="ftp",le="0.0001"} 3`, `ctlua_packet_duration_seconds_bucket{helper="ftp",le="0.0001"} 15`},
		{`ctlua_packet_duration_seconds_bucket{helper="ftp",le="+Inf"} 4`, `ctlua_packet_duration_seconds_bucket{helper="ftp",le="+Inf"} 20`},
		{`ctlua_packet_duration_seconds_sum{helper="ftp"} 1`, `ctlua_packet_duration_seconds_sum{helper="ftp"} 5`},
		{`ctlua_build_info{version="v9"} 1`, `ctlua_build_info{version="v9"} 1`},
		{`ctlua_helper_version{helper="ftp"} 2`, `ctlua_helper_version{helper="ftp"} 2`},
	}
	for _, tt := range tests {
		if !strings.Contains(before, tt.before+"\n") {
			t.Errorf("first scrape lacks %s", tt.before)
		}
		if !strings.Contains(after, tt.after+"\n") {
			t.Errorf("second scrape lacks %s", tt.after)
		}
	}
	if !strings.Contains(after, "go_goroutines") || !strings.Contains(after, "process_") {
		t.Error("no Go runtime or process metrics")
	}
}

// TestNamesFollowConventions runs the Prometheus linter over every
// metric: counters end in _total, units are in the names, help is there.
func TestNamesFollowConventions(t *testing.T) {
	c := NewCollector(func() control.Status { return status(1) })
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	if n := testutil.CollectAndCount(c); n != len(helperMetrics)+len(queueMetrics)+2+1+1+1+1 {
		t.Errorf("%d metrics collected", n)
	}
}

func TestServer(t *testing.T) {
	s, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Serve(func() control.Status { return status(1) }, slog.New(slog.DiscardHandler))
	body := scrape(t, "http://"+s.Addr().String()+"/metrics")
	if !strings.Contains(body, `ctlua_packets_total{helper="ftp"} 10`) {
		t.Errorf("scrape:\n%s", body)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + s.Addr().String() + "/metrics"); err == nil {
		t.Error("the server still answers after Close")
	}
	if _, err := Listen("256.0.0.1:1"); err == nil || !strings.HasPrefix(err.Error(), "metrics: ") {
		t.Errorf("a bad address: %v", err)
	}
}
