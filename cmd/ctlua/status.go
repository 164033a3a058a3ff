package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ctlua/ctlua/runtime/control"
)

// socketFlags are the flags that find the daemon's control socket.
type socketFlags struct {
	socket, config *string
	timeout        *time.Duration
}

func addSocketFlags(fs *flag.FlagSet, timeout time.Duration) socketFlags {
	return socketFlags{
		socket:  fs.String("socket", "", "the daemon's control socket (default: the socket of --config, or "+control.DefaultSocket+")"),
		config:  fs.String("config", "", "the daemon's configuration file, for its socket"),
		timeout: fs.Duration("timeout", timeout, "how long to wait for the daemon's answer"),
	}
}

// path returns the socket to ask: --socket, the configuration's, or the
// default.
func (f socketFlags) path() (string, error) {
	if *f.socket != "" {
		return *f.socket, nil
	}
	if *f.config == "" {
		return control.DefaultSocket, nil
	}
	cfg, err := loadConfig(*f.config)
	if err != nil {
		return "", err
	}
	p := cfg.Daemon.SocketPath()
	if p == "" {
		return "", fmt.Errorf("%s: socket = \"\": the daemon has no control socket", *f.config)
	}
	return p, nil
}

func cmdStatus(args []string, stdout, stderr io.Writer) int {
	const synopsis = "status [--json] [--socket PATH | --config FILE]: the running daemon's helpers, scripts, counters and last errors"
	fs := newFlags("status")
	sf := addSocketFlags(fs, 5*time.Second)
	asJSON := fs.Bool("json", false, "print the status as JSON")
	pos, status, done := parseArgs(fs, synopsis, args, stdout, stderr)
	if done {
		return status
	}
	if len(pos) > 0 {
		return usageError(stderr, fs, synopsis, "unexpected arguments %q", pos)
	}
	path, err := sf.path()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	st, err := control.GetStatus(path, *sf.timeout)
	if err != nil {
		fmt.Fprintln(stderr, "ctlua status:", err)
		return exitFailed
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(st)
		return exitOK
	}
	printStatus(stdout, st)
	return exitOK
}

// printStatus prints the status as tables: the helpers, their queues,
// their recent errors and last reloads.
func printStatus(w io.Writer, st *control.Status) {
	fmt.Fprintf(w, "ctlua %s, pid %d, up %s, %d workers\n\n", st.Version, st.PID,
		(time.Duration(st.UptimeSeconds) * time.Second).String(), st.Workers)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HELPER\tSCRIPT\tSHA256\tVERSION\tLOADED\tPACKETS\tACCEPTED\tDROPPED\tEXPECTED\tERRORS\tTIMEOUTS\tRELOADS\tFAILED\tSTATES\tMEAN\tP99")
	for _, h := range st.Helpers {
		c := h.Counters
		fmt.Fprintf(tw, "%s\t%s\t%.12s\t%d\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", h.Name, h.Script, h.SHA256,
			h.Version, h.Loaded.Local().Format("2006-01-02T15:04:05"), c.Packets, c.Accepted, c.Dropped,
			c.Expectations+c.ExpectInserted, c.Errors, c.Timeouts, c.Reloads, c.ReloadFailures, c.States,
			meanLatency(h.Latency), quantileBound(h.Latency, 0.99))
	}
	tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(tw, "QUEUE\tHELPER\tPACKETS\tVERDICTS\tOUTSTANDING\tENOBUFS\tSEND ERRORS\tOVERFLOWS\tABANDONED\tNO CONNTRACK")
	for _, h := range st.Helpers {
		if q := h.QueueCounters; q != nil {
			fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", h.Queue, h.Name, q.Packets, q.Verdicts,
				q.Outstanding, q.ENOBUFS, q.SendErrors, q.Overflows, q.Abandoned, q.WithoutConntrack)
		}
	}
	tw.Flush()
	printRecent(w, st)
}

// printRecent prints the helpers' last errors and reloads.
func printRecent(w io.Writer, st *control.Status) {
	var errs, reloads []string
	for _, h := range st.Helpers {
		for _, e := range h.RecentErrors {
			at := e.At
			if at == "" {
				at = "-"
			}
			errs = append(errs, fmt.Sprintf("  %s  %s  %s  %s  %s", e.Time.Local().Format(time.DateTime), h.Name, e.Kind, at, oneLine(e.Msg)))
		}
		if r := h.LastReload; r != nil {
			what := fmt.Sprintf("loaded version %d", r.Version)
			if !r.Loaded {
				what = fmt.Sprintf("not loaded, version %d serves: %s", r.Version, oneLine(r.Error))
			}
			reloads = append(reloads, fmt.Sprintf("  %s  %s  %s", r.Time.Local().Format(time.DateTime), h.Name, what))
		}
	}
	if len(errs) > 0 {
		fmt.Fprintf(w, "\nlast errors:\n%s\n", strings.Join(errs, "\n"))
	}
	if len(reloads) > 0 {
		fmt.Fprintf(w, "\nlast reloads:\n%s\n", strings.Join(reloads, "\n"))
	}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// meanLatency returns the mean time per packet, or "-".
func meanLatency(l control.Latency) string {
	if l.Count == 0 {
		return "-"
	}
	return roundDuration(time.Duration(l.SumSeconds / float64(l.Count) * 1e9))
}

// quantileBound returns the upper bound of the bucket that holds the q
// quantile of the latencies ("-" without any, ">1s" past the last bound).
func quantileBound(l control.Latency, q float64) string {
	if l.Count == 0 {
		return "-"
	}
	want := uint64(q*float64(l.Count) + 0.5)
	var cum uint64
	for i, n := range l.Buckets {
		cum += n
		if cum >= max(want, 1) {
			if i >= len(l.BoundsSeconds) {
				break
			}
			return "≤" + roundDuration(time.Duration(l.BoundsSeconds[i]*1e9))
		}
	}
	return ">" + roundDuration(time.Duration(l.BoundsSeconds[len(l.BoundsSeconds)-1]*1e9))
}

func roundDuration(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(100 * time.Nanosecond).String()
}

func cmdReload(args []string, stdout, stderr io.Writer) int {
	const synopsis = "reload [--socket PATH | --config FILE] [--json] [HELPER]: load new versions of the daemon's scripts (all, or HELPER's), saying whether they loaded"
	fs := newFlags("reload")
	sf := addSocketFlags(fs, time.Minute)
	asJSON := fs.Bool("json", false, "print the outcomes as JSON")
	pos, status, done := parseArgs(fs, synopsis, args, stdout, stderr)
	if done {
		return status
	}
	if len(pos) > 1 {
		return usageError(stderr, fs, synopsis, "one helper at most, got %q", pos)
	}
	path, err := sf.path()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	name := ""
	if len(pos) == 1 {
		name = pos[0]
	}
	rs, err := control.Reload(path, name, *sf.timeout)
	if err != nil {
		fmt.Fprintln(stderr, "ctlua reload:", err)
		return exitFailed
	}
	if *asJSON {
		json.NewEncoder(stdout).Encode(rs)
	}
	code := exitOK
	for _, r := range rs {
		if !r.Loaded {
			code = exitFailed
		}
		if *asJSON {
			continue
		}
		if r.Loaded {
			fmt.Fprintf(stdout, "%s: loaded version %d (sha256 %.12s)\n", r.Helper, r.Version, r.SHA256)
		} else {
			fmt.Fprintf(stdout, "%s: not loaded, version %d keeps serving: %s\n", r.Helper, r.Version, r.Error)
		}
	}
	return code
}
