package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/engine/enginetest"
	"github.com/ctlua/ctlua/runtime/daemon"
	"github.com/ctlua/ctlua/runtime/replay"
	"github.com/ctlua/ctlua/scripts"
)

// multiFlag collects a repeatable flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

const replaySynopsis = "replay [flags] HELPER.lua CAPTURE.pcap[ng]  or  replay --config FILE [flags] CAPTURE: run helpers on a capture, no root needed (HELPER may be builtin:NAME)"

// replayArgs is what a replay was asked to do.
type replayArgs struct {
	script, capture, config, write string
	ports                          []uint16
	options                        []string
	asJSON, all, hex               bool
	expect, expectRelated          int // -1: not asserted
	filter                         filter
}

func cmdReplay(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("replay")
	var ports, options multiFlag
	var a replayArgs
	fs.Var(&ports, "port", "helper port (repeatable; replaces the script's ports)")
	fs.Var(&options, "option", "helper option key=value (repeatable)")
	fs.StringVar(&a.config, "config", "", "replay every helper of a daemon configuration (their ports and options, the daemon's budget) instead of one script")
	fs.BoolVar(&a.asJSON, "json", false, "print JSON lines instead of a table")
	fs.BoolVar(&a.all, "all", false, "also print packets no helper sees, and expectations that go away")
	fs.BoolVar(&a.hex, "hex", false, "print a hex and ASCII dump of every payload shown (and of its rewrite)")
	fs.IntVar(&a.expect, "expect", -1, "exit 1 unless the replay creates exactly N expectations")
	fs.IntVar(&a.expectRelated, "expect-related", -1, "exit 1 unless exactly N connections are related to an expectation")
	conn := fs.Uint("conn", 0, "show only this connection (the conn column) and what it creates")
	showPort := fs.Uint("show-port", 0, "show only packets from or to this port")
	packets := fs.String("packets", "", "show only packets FROM-TO (numbers as in the # column; FROM- or -TO)")
	fs.StringVar(&a.write, "write", "", "write the TCP and UDP packets as they leave ctlua (rewritten, dropped ones left out) to this pcap file")
	watch := fs.Bool("watch", false, "replay again (and run the helper's *_test.lua) whenever the script, its tests, the capture or the config change")
	var ifaceFlags multiFlag
	fs.Var(&ifaceFlags, "iface", "a local interface address ctlua.iface reports, ADDR/PREFIX[,brd=B|+][,name=N][,secondary] (repeatable; default none)")
	pos, status, done := parseArgs(fs, replaySynopsis, args, stdout, stderr)
	if done {
		return status
	}
	if msg := setReplayIfaces(ifaceFlags); msg != "" {
		return usageError(stderr, fs, replaySynopsis, "%s", msg)
	}
	if msg := a.positional(pos); msg != "" {
		return usageError(stderr, fs, replaySynopsis, "%s", msg)
	}
	for _, p := range ports {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return usageError(stderr, fs, replaySynopsis, "--port %q: want a port number 1..65535", p)
		}
		a.ports = append(a.ports, uint16(n))
	}
	a.options = options
	var err error
	if a.filter, err = newFilter(uint32(*conn), *showPort, *packets); err != nil {
		return usageError(stderr, fs, replaySynopsis, "%v", err)
	}
	status = replayOnce(&a, stdout, stderr)
	if !*watch {
		return status
	}
	return watchReplay(&a, stdout, stderr)
}

// positional takes the file arguments and says what is wrong with them.
func (a *replayArgs) positional(pos []string) string {
	if a.config != "" {
		if len(pos) != 1 {
			return fmt.Sprintf("with --config, want one CAPTURE argument, got %d", len(pos))
		}
		a.capture = pos[0]
		return ""
	}
	if len(pos) != 2 {
		return fmt.Sprintf("want HELPER.lua and CAPTURE, got %d arguments", len(pos))
	}
	a.script, a.capture = pos[0], pos[1]
	if isCapture(a.script) && !isCapture(a.capture) {
		return fmt.Sprintf("%s is a capture and %s is not: the helper comes first (ctlua replay HELPER.lua CAPTURE)", a.script, a.capture)
	}
	return ""
}

// isCapture reports whether a file looks like a pcap or pcapng capture:
// by its name, or by its first bytes.
func isCapture(path string) bool {
	ext := strings.ToLower(filepath.Ext(path))
	if ext == ".pcap" || ext == ".pcapng" || ext == ".cap" {
		return true
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var m [4]byte
	if _, err := io.ReadFull(f, m[:]); err != nil {
		return false
	}
	switch string(m[:]) {
	case "\xd4\xc3\xb2\xa1", "\xa1\xb2\xc3\xd4", "\x4d\x3c\xb2\xa1", "\xa1\xb2\x3c\x4d", "\x0a\x0d\x0d\x0a":
		return true
	}
	return false
}

// A loadedHelper is one helper of a replay and where it came from.
type loadedHelper struct {
	file string
	src  []byte
	ov   *engine.Overrides
	bind replay.Binding
	// fromConfig explains override errors against the configuration.
	fromConfig func(error) error
}

// readScript reads a helper script: a file, or builtin:NAME.
func readScript(path string) (file string, src []byte, err error) {
	if name, ok := strings.CutPrefix(path, "builtin:"); ok {
		src, err = fs.ReadFile(scripts.FS, name+"/helper.lua")
		if err != nil {
			return "", nil, argError{fmt.Errorf("%s: no such builtin helper (builtin: %s)", path, strings.Join(builtinNames(), ", "))}
		}
		return "builtin/" + name + "/helper.lua", src, nil
	}
	src, err = os.ReadFile(path)
	return path, src, err
}

func builtinNames() []string {
	dirs, _ := fs.Glob(scripts.FS, "*/helper.lua")
	for i, d := range dirs {
		dirs[i] = filepath.Dir(d)
	}
	sort.Strings(dirs)
	return dirs
}

// helpersOf returns the helpers a replay loads: the script with the
// command line's ports and options, or every helper of cfg, the
// configuration a.config names (nil without one).
func helpersOf(a *replayArgs, cfg *daemon.Config, e *engine.Engine) ([]loadedHelper, error) {
	if cfg == nil {
		file, src, err := readScript(a.script)
		if err != nil {
			return nil, err
		}
		probe, err := e.Check(file, src, nil)
		if err != nil {
			return nil, enginetest.ExplainSyntax(err, src)
		}
		ov, err := optionOverrides(&probe.Spec, a.options)
		if err != nil {
			return nil, argError{err}
		}
		return []loadedHelper{{file: file, src: src, ov: ov, bind: replay.Binding{Helper: probe.Spec.Name, Ports: a.ports}}}, nil
	}
	cfgText, err := os.ReadFile(a.config)
	if err != nil {
		return nil, err
	}
	var out []loadedHelper
	for i, hc := range cfg.Helpers {
		path := hc.Script
		if !strings.HasPrefix(path, "builtin:") && !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(a.config), path)
		}
		file, src, err := readScript(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a.config, err)
		}
		script := hc.Script
		out = append(out, loadedHelper{file: file, src: src, ov: hc.Overrides(), fromConfig: func(err error) error {
			return configError(a.config, cfgText, i, script, err)
		}})
	}
	return out, nil
}

// loadConfig reads the daemon configuration replayed, or returns nil when
// the replay is of one script.
func (a *replayArgs) loadConfig() (*daemon.Config, error) {
	if a.config == "" {
		return nil, nil
	}
	return daemon.LoadConfig(a.config)
}

func replayOnce(a *replayArgs, stdout, stderr io.Writer) int {
	rp := replay.New(replay.Options{})
	var prints []string
	printMod := enginetest.PrintModule(func(c *engine.Call, msg string) {
		if c == nil {
			fmt.Fprintln(stderr, "print:", msg) // while the script's chunk runs
			return
		}
		prints = append(prints, msg)
	})
	cfg, err := a.loadConfig()
	if err != nil {
		fmt.Fprintln(stderr, "ctlua replay:", err)
		return replayErrStatus(err)
	}
	var budget time.Duration // the engine's default, without a configuration
	if cfg != nil {
		budget = cfg.Daemon.Budget.Duration // as the daemon runs the helpers
	}
	e, err := engine.New(engine.Config{Workers: 1, Budget: budget, Modules: append(modules(), printMod),
		Conntrack: rp.Conntrack(), Expecter: rp.Expecter()})
	if err != nil {
		fmt.Fprintln(stderr, "ctlua:", err)
		return exitFailed
	}
	defer e.Close()
	hs, err := helpersOf(a, cfg, e)
	if err != nil {
		fmt.Fprintln(stderr, "ctlua replay:", err)
		return replayErrStatus(err)
	}
	var binds []replay.Binding
	for _, lh := range hs {
		h, err := e.Load(lh.file, lh.src, lh.ov)
		if err != nil {
			if _, cerr := e.Check(lh.file, lh.src, nil); cerr == nil && lh.fromConfig != nil {
				err = lh.fromConfig(err) // the script is fine: the config's overrides are not
			}
			fmt.Fprintln(stderr, enginetest.ExplainSyntax(err, lh.src))
			return exitFailed
		}
		lh.bind.Helper = h.Spec.Name
		binds = append(binds, lh.bind)
	}
	f, err := os.Open(a.capture)
	if err != nil {
		fmt.Fprintln(stderr, "ctlua replay:", err)
		return exitUsage
	}
	defer f.Close()
	out, closeOut, err := newPrinter(a, stdout, &prints)
	if err != nil {
		fmt.Fprintln(stderr, "ctlua replay:", err)
		return exitUsage
	}
	sum, err := rp.RunAll(context.Background(), e, binds, f, out.event)
	if cerr := closeOut(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintln(stderr, "ctlua replay:", err)
		return exitUsage
	}
	out.summary(sum, portsOf(e, binds))
	return verdictOf(a, sum, stderr)
}

// An argError is a bad command-line argument found while loading.
type argError struct{ error }

func (e argError) Unwrap() error { return e.error }

// replayErrStatus is the exit status of a failure to load the helpers:
// a script or configuration error is a failure, an unreadable file or a
// bad argument a usage error.
func replayErrStatus(err error) int {
	var pe *fs.PathError
	var ae argError
	if errors.As(err, &pe) || errors.As(err, &ae) {
		return exitUsage
	}
	return exitFailed
}

// portsOf lists the ports every helper is attached to, for the hint.
func portsOf(e *engine.Engine, binds []replay.Binding) []uint16 {
	var ps []uint16
	for _, b := range binds {
		if b.Ports != nil {
			ps = append(ps, b.Ports...)
		} else if h := e.Helper(b.Helper); h != nil {
			ps = append(ps, h.Spec.Ports...)
		}
	}
	return ps
}

// verdictOf checks the summary against the --expect assertions and
// script errors and returns the exit status.
func verdictOf(a *replayArgs, sum replay.Summary, stderr io.Writer) int {
	status := exitOK
	if sum.Errors > 0 {
		fmt.Fprintf(stderr, "ctlua replay: %d script errors\n", sum.Errors)
		status = exitFailed
	}
	if a.expect >= 0 && sum.Expectations != a.expect {
		fmt.Fprintf(stderr, "ctlua replay: FAIL: %d expectations, --expect %d\n", sum.Expectations, a.expect)
		status = exitFailed
	}
	if a.expectRelated >= 0 && sum.Related != a.expectRelated {
		fmt.Fprintf(stderr, "ctlua replay: FAIL: %d related connections, --expect-related %d\n", sum.Related, a.expectRelated)
		status = exitFailed
	}
	return status
}

// watchReplay replays again whenever an input changes, and runs the
// helper's tests when there are any.
func watchReplay(a *replayArgs, stdout, stderr io.Writer) int {
	files := []string{a.capture}
	tests := []string{}
	for _, f := range []string{a.script, a.config} {
		if f == "" || strings.HasPrefix(f, "builtin:") {
			continue
		}
		files = append(files, f)
		found, _ := filepath.Glob(filepath.Join(filepath.Dir(f), "*_test.lua"))
		tests = append(tests, found...)
	}
	files = append(files, tests...)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	fmt.Fprintf(stderr, "ctlua replay: watching %s (Ctrl-C to stop)\n", strings.Join(files, ", "))
	status := exitOK
	err := engine.Watch(ctx, files, 0, func(changed string) {
		fmt.Fprintf(stdout, "\n--- %s changed, replaying\n", changed)
		status = replayOnce(a, stdout, stderr)
		if len(tests) > 0 {
			status = max(status, cmdTest(tests, stdout, stderr))
		}
	})
	if err != nil {
		fmt.Fprintln(stderr, "ctlua replay:", err)
		return exitUsage
	}
	return status
}

// optionOverrides parses key=value options by the type of the declared
// default.
func optionOverrides(s *engine.Spec, options []string) (*engine.Overrides, error) {
	if len(options) == 0 {
		return nil, nil
	}
	ov := &engine.Overrides{Options: map[string]any{}}
	for _, o := range options {
		k, v, ok := strings.Cut(o, "=")
		if !ok {
			return nil, fmt.Errorf("--option %q: want key=value", o)
		}
		def, declared := s.Options[k]
		if !declared {
			return nil, fmt.Errorf("--option %s: helper %s declares no such option (declared: %s)", k, s.Name, strings.Join(sortedOptionNames(s.Options), ", "))
		}
		switch def.(type) {
		case bool:
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("--option %s: want true or false, got %q", k, v)
			}
			ov.Options[k] = b
		case float64:
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, fmt.Errorf("--option %s: want a number, got %q", k, v)
			}
			ov.Options[k] = n
		default:
			ov.Options[k] = v
		}
	}
	return ov, nil
}

func sortedOptionNames(m map[string]any) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}
