package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/engine/enginetest"
)

const checkSynopsis = "check [--lint=false] HELPER.lua...: compile and validate helper scripts (a file or builtin:NAME), lint them, print their declarations"

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("check")
	doLint := fs.Bool("lint", true, "warn about undefined globals, globals read before set, unused requires, unknown module members and print")
	files, status, done := parseArgs(fs, checkSynopsis, args, stdout, stderr)
	if done {
		return status
	}
	if len(files) == 0 {
		return usageError(stderr, fs, checkSynopsis, "want at least one HELPER.lua")
	}
	e, err := engine.New(engine.Config{Workers: 1, Modules: modules()})
	if err != nil {
		fmt.Fprintln(stderr, "ctlua:", err)
		return exitFailed
	}
	defer e.Close()
	var members map[string]map[string]bool
	if *doLint {
		members = lintMembers()
	}
	status = exitOK
	for _, arg := range files {
		status = max(status, checkOne(e, arg, members, stdout, stderr))
	}
	return status
}

// checkOne checks one script and returns its status.
func checkOne(e *engine.Engine, arg string, members map[string]map[string]bool, stdout, stderr io.Writer) int {
	if isCapture(arg) {
		fmt.Fprintf(stderr, "ctlua check: %s is a capture, not a helper script (ctlua replay HELPER.lua %s)\n", arg, arg)
		return exitUsage
	}
	file, src, err := readScript(arg)
	if err != nil {
		fmt.Fprintln(stderr, "ctlua check:", err)
		return exitUsage
	}
	h, err := e.Check(file, src, nil)
	if err != nil {
		fmt.Fprintln(stderr, enginetest.ExplainSyntax(err, src))
		return exitFailed
	}
	printSpec(stdout, file, &h.Spec)
	if members == nil {
		return exitOK
	}
	found, err := lint(file, src, members)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailed
	}
	for _, f := range found {
		fmt.Fprintf(stderr, "%s:%d:%d: %s\n", file, f.line, f.col, f.msg)
	}
	if len(found) > 0 {
		return exitFailed
	}
	return exitOK
}

func printSpec(w io.Writer, file string, s *engine.Spec) {
	fmt.Fprintf(w, "%s: helper %s\n", file, s.Name)
	fmt.Fprintf(w, "  l3 %s, l4 %s, ports %v\n", strings.Join(s.L3Names(), "+"), strings.Join(s.L4Names(), "+"), s.Ports)
	for i, p := range s.Policies {
		fmt.Fprintf(w, "  policy %d %s: max_expected %d, timeout %s\n", i, p.Name, p.MaxExpected, p.Timeout)
	}
	fmt.Fprintf(w, "  private_size %d, default_verdict %s\n", s.PrivateSize, s.DefaultVerdict)
	if s.PayloadOnly {
		fmt.Fprintln(w, "  payload_only: packets without payload are accepted without a call")
	}
	for _, d := range []engine.Direction{engine.Original, engine.Reply} {
		if pre := s.Match.Prefixes[d]; len(pre) > 0 {
			fmt.Fprintf(w, "  match %s: payloads beginning with %s", d, quoteAll(pre))
			if s.Match.NoCase {
				fmt.Fprint(w, " (any case)")
			}
			fmt.Fprintln(w)
		}
	}
	if s.Lines {
		fmt.Fprintln(w, "  lines: the engine tracks where lines start")
	}
	for _, k := range sortedOptionNames(s.Options) {
		fmt.Fprintf(w, "  option %s = %v\n", k, s.Options[k])
	}
}

// quoteAll quotes each of ss, Go-style, separated by commas.
func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}
