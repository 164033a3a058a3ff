package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// newFlags returns the flag set of a subcommand; parseArgs prints its
// usage.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// printUsage writes a command's synopsis and flags to w.
func printUsage(w io.Writer, fs *flag.FlagSet, synopsis string) {
	fmt.Fprintf(w, "usage: ctlua %s\n", synopsis)
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n == 0 {
		return
	}
	fmt.Fprintln(w, "\nflags:")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// parseArgs parses a subcommand's arguments with flags accepted anywhere
// on the line (before, between or after the file arguments; "--" ends the
// flags) and returns the positional arguments. When done is true the
// command returns status at once: --help printed the usage to stdout
// (exitOK), or a bad flag printed the error and the usage to stderr
// (exitUsage).
func parseArgs(fs *flag.FlagSet, synopsis string, args []string, stdout, stderr io.Writer) (pos []string, status int, done bool) {
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout, fs, synopsis)
			return nil, exitOK, true
		}
		if err != nil {
			fmt.Fprintf(stderr, "ctlua %s: %v\n", fs.Name(), err)
			printUsage(stderr, fs, synopsis)
			return nil, exitUsage, true
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, exitOK, false
		}
		// fs.Parse stops at the first positional argument, or after "--".
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), exitOK, false
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// usageError prints a problem with a command's arguments and its usage to
// stderr, and returns exitUsage.
func usageError(stderr io.Writer, fs *flag.FlagSet, synopsis, format string, args ...any) int {
	fmt.Fprintf(stderr, "ctlua %s: %s\n", fs.Name(), strings.TrimSpace(fmt.Sprintf(format, args...)))
	printUsage(stderr, fs, synopsis)
	return exitUsage
}
