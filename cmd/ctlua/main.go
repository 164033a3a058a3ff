// Command ctlua runs conntrack helpers written in Lua.
//
//	ctlua run [--config FILE]              the daemon (kernel path)
//	ctlua replay HELPER.lua CAPTURE.pcap   run a helper offline on a capture
//	ctlua check HELPER.lua...              validate scripts, print declarations
//	ctlua rules [--config FILE]            nft / iptables rules attaching the helpers
//	ctlua helpers [--delete NAME]          list or delete kernel helpers
package main

import (
	"fmt"
	"io"
	"os"

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
	}
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return exitUsage
		}
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
}

// modules are the Lua modules every engine of the CLI gets.
func modules() []engine.Module { return append(bindings.Default(), stdlib.Modules()...) }
