// Command ctlua runs conntrack helpers written in Lua.
//
//	ctlua run [--config FILE]              the daemon (kernel path)
//	ctlua new NAME --l4 tcp --port N       a helper skeleton, tested and replayable
//	ctlua test [PATH...]                   run the *_test.lua files next to helpers
//	ctlua replay HELPER.lua CAPTURE.pcap   run a helper offline on a capture
//	ctlua check HELPER.lua...              validate and lint scripts, print declarations
//	ctlua rules [--config FILE]            nft / iptables rules attaching the helpers
//	ctlua helpers [--delete NAME]          list or delete kernel helpers
//	ctlua status [--json]                  the running daemon's helpers and counters
//	ctlua reload [HELPER]                  load new versions of the daemon's scripts
//	ctlua expect [--watch] [--helper NAME] the kernel's expectations of ctlua's helpers
//	ctlua version                          the version
//	ctlua help [COMMAND]                   usage; COMMAND --help lists its flags
//
// Flags may come before, between or after the file arguments.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/ctlua/ctlua/bindings"
	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/stdlib"
)

// A command is one subcommand: it returns the exit status.
type command struct {
	name, usage string
	run         func(args []string, stdout, stderr io.Writer) int
}

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1 // script errors, a failed check, a kernel failure
	exitUsage  = 2 // bad arguments, unreadable files
)

func commands() []command {
	return []command{
		{"run", "run [--config FILE]: register the helpers and serve their queues", cmdRun},
		{"replay", "replay [flags] HELPER.lua CAPTURE: run a helper on a pcap/pcapng capture, no root needed", cmdReplay},
		{"check", "check HELPER.lua...: compile and validate scripts, print their declarations", cmdCheck},
		{"test", "test [-run REGEXP] [-v] [PATH...]: run the *_test.lua files next to helpers", cmdTest},
		{"new", "new NAME --l4 tcp|udp --port N: create a helper skeleton that ctlua test and replay accept", cmdNew},
		{"rules", "rules [--config FILE] [--iptables]: print the rules that attach the helpers", cmdRules},
		{"helpers", "helpers [--delete NAME | --flush]: list (or delete) user-space helpers in the kernel", cmdHelpers},
		{"status", "status [--json] [--socket PATH]: the running daemon's helpers, scripts, counters and last errors", cmdStatus},
		{"reload", "reload [--socket PATH] [HELPER]: load new versions of the daemon's scripts, saying whether they loaded", cmdReload},
		{"expect", "expect [--watch] [--helper NAME] [--json]: the kernel's expectations that ctlua's helpers own", cmdExpect},
	}
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// version is the release, set with -ldflags "-X main.version=v1.2.3".
var version = "devel"

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "--help", "-help":
		usage(stdout)
		return exitOK
	case "help":
		if len(args) == 1 {
			usage(stdout)
			return exitOK
		}
		return run([]string{args[1], "--help"}, stdout, stderr)
	case "version", "--version", "-version":
		printVersion(stdout)
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "ctlua: unknown command %q\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: ctlua COMMAND [ARGS]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %s\n", c.usage)
	}
	fmt.Fprintln(w, "  version: print the version\n\n`ctlua help COMMAND` or `ctlua COMMAND --help` lists a command's flags.")
}

// printVersion prints the release and what the binary was built from.
func printVersion(w io.Writer) {
	fmt.Fprintf(w, "ctlua %s %s %s/%s\n", versionString(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// versionString returns the release and the revision it was built from.
func versionString() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "devel" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				v += " " + s.Value
			}
		}
	}
	return v
}

// modules are the Lua modules every engine of the CLI gets.
func modules() []engine.Module { return append(bindings.Default(), stdlib.Modules()...) }
