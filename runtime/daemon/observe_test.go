package daemon

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctlua/ctlua/bindings"
	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/runtime/control"
)

const observeScript = `return {
  name = "obs", l4 = "tcp", ports = {2121},
  policies = {{name = "data", max_expected = 1, timeout = 60}},
  on_packet = function() end,
}
`

// observed runs the daemon's observer over an engine with one helper
// loaded from a file, without a kernel: no queue, the registrations the
// script asks for taken as made.
func observed(t *testing.T) (*observer, *helperRun, string) {
	t.Helper()
	dir := t.TempDir()
	script := filepath.Join(dir, "obs.lua")
	os.WriteFile(script, []byte(observeScript), 0o644)
	sock := filepath.Join(dir, "c.sock")
	cfg, err := ParseConfig(filepath.Join(dir, "c.toml"), []byte("[daemon]\nsocket = \""+sock+"\"\n[[helper]]\nscript = \"obs.lua\"\nqueue = 5\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Daemon.Metrics = "127.0.0.1:0" // any free port
	e, err := engine.New(engine.Config{Workers: 1, Modules: bindings.Default()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	r := &helperRun{cfg: cfg.Helpers[0]}
	h, err := r.load(e, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.name, r.spec = h.Spec.Name, h.Spec
	r.kernel = r.kernelHelpers()
	log := slog.New(slog.DiscardHandler)
	o, err := listenObserve(cfg, e, "v0-test", log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(o.close)
	o.serve([]*helperRun{r}, func(runs ...*helperRun) error {
		var errs []error
		for _, r := range runs {
			err := r.reload(e, nil, cfg, nil, log)
			o.reloaded(r, err)
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
	return o, r, sock
}

func TestObserverStatusAndReload(t *testing.T) {
	o, r, sock := observed(t)
	st, err := control.GetStatus(sock, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if st.Version != "v0-test" || len(st.Helpers) != 1 {
		t.Fatalf("status %+v", st)
	}
	h := st.Helpers[0]
	if h.Name != "obs" || h.Script != "obs.lua" || h.File != r.script || h.Version != 1 || h.Queue != 5 || h.QueueCounters != nil || len(h.SHA256) != 64 {
		t.Errorf("helper status %+v", h)
	}
	os.WriteFile(r.script, []byte(observeScript+"-- v2\n"), 0o644)
	rs, err := control.Reload(sock, "", time.Second)
	if err != nil || len(rs) != 1 || !rs[0].Loaded || rs[0].Version != 2 {
		t.Fatalf("reload of a changed script = %+v, %v", rs, err)
	}
	os.WriteFile(r.script, []byte(strings.Replace(observeScript, `"data"`, `"other"`, 1)), 0o644)
	rs, err = control.Reload(sock, "obs", time.Second)
	if err != nil || len(rs) != 1 || rs[0].Loaded || rs[0].Version != 2 || !strings.Contains(rs[0].Error, "policy names changed") {
		t.Fatalf("reload needing a new registration = %+v, %v", rs, err)
	}
	os.WriteFile(r.script, []byte("return {\n  name = 7,\n}\n"), 0o644)
	if rs, _ = control.Reload(sock, "obs", time.Second); len(rs) != 1 || rs[0].Loaded || !strings.Contains(rs[0].Error, "obs.lua:2") {
		t.Fatalf("reload of a broken script = %+v", rs)
	}
	h = o.Status().Helpers[0]
	if h.Counters.Reloads != 1 || h.Counters.ReloadFailures != 2 || h.LastReload == nil || h.LastReload.Loaded || len(h.RecentErrors) != 2 {
		t.Errorf("after the reloads: counters %+v, last %+v, errors %+v", h.Counters, h.LastReload, h.RecentErrors)
	}
	if _, err := control.Reload(sock, "nope", time.Second); err == nil || !strings.Contains(err.Error(), `no helper "nope" (the daemon runs [obs])`) {
		t.Errorf("reload of an unknown helper: %v", err)
	}
}

func TestObserverMetrics(t *testing.T) {
	o, _, _ := observed(t)
	resp, err := http.Get("http://" + o.met.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{`ctlua_helper_version{helper="obs"} 1`, `ctlua_build_info{version="v0-test"} 1`, `ctlua_packets_total{helper="obs"} 0`} {
		if !strings.Contains(string(b), want+"\n") {
			t.Errorf("scrape lacks %s", want)
		}
	}
}

func TestObserverListenErrors(t *testing.T) {
	e, _ := engine.New(engine.Config{Workers: 1})
	defer e.Close()
	log := slog.New(slog.DiscardHandler)
	file := filepath.Join(t.TempDir(), "plain")
	os.WriteFile(file, nil, 0o644)
	cfg, _ := ParseConfig("c.toml", []byte("[daemon]\nsocket = \""+file+"\"\n"+oneHelper))
	if _, err := listenObserve(cfg, e, "", log); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("a configured socket that cannot be bound: %v", err)
	}
	cfg, _ = ParseConfig("c.toml", []byte("[daemon]\nsocket = \"\"\nmetrics = \"192.0.2.1:9469\"\n"+oneHelper))
	if _, err := listenObserve(cfg, e, "", log); err == nil || !strings.HasPrefix(err.Error(), "metrics: ") {
		t.Errorf("a metrics address not of this host: %v", err)
	}
	cfg, _ = ParseConfig("c.toml", []byte("[daemon]\nsocket_group = \"no-such-group-ctlua\"\nsocket = \"/tmp/x.sock\"\n"+oneHelper))
	if _, err := listenObserve(cfg, e, "", log); err == nil || !strings.Contains(err.Error(), "socket_group") {
		t.Errorf("an unknown group: %v", err)
	}
}
