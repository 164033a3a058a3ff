package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ctlua/ctlua/engine"
)

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "usage: ctlua check HELPER.lua...")
		return exitUsage
	}
	e, err := engine.New(engine.Config{Workers: 1, Modules: modules()})
	if err != nil {
		fmt.Fprintln(stderr, "ctlua:", err)
		return exitFailed
	}
	defer e.Close()
	status := exitOK
	for _, file := range fs.Args() {
		src, err := os.ReadFile(file)
		if err != nil {
			fmt.Fprintln(stderr, "ctlua:", err)
			status = max(status, exitUsage)
			continue
		}
		h, err := e.Check(file, src, nil)
		if err != nil {
			fmt.Fprintln(stderr, err)
			status = max(status, exitFailed)
			continue
		}
		printSpec(stdout, file, &h.Spec)
	}
	return status
}

func printSpec(w io.Writer, file string, s *engine.Spec) {
	fmt.Fprintf(w, "%s: helper %s\n", file, s.Name)
	fmt.Fprintf(w, "  l3 %s, l4 %s, ports %v\n", strings.Join(s.L3Names(), "+"), engine.ProtoName(s.Proto), s.Ports)
	for i, p := range s.Policies {
		fmt.Fprintf(w, "  policy %d %s: max_expected %d, timeout %s\n", i, p.Name, p.MaxExpected, p.Timeout)
	}
	fmt.Fprintf(w, "  private_size %d, default_verdict %s\n", s.PrivateSize, s.DefaultVerdict)
	for _, k := range sortedOptionNames(s.Options) {
		fmt.Fprintf(w, "  option %s = %v\n", k, s.Options[k])
	}
}
