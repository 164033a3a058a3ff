package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/runtime/cthelper"
	"github.com/ctlua/ctlua/runtime/daemon"
	"github.com/ctlua/ctlua/scripts"
)

// loadConfig reads --config, or the embedded default.
func loadConfig(path string) (*daemon.Config, error) {
	if path == "" {
		return daemon.ParseConfig("(default config)", []byte(daemon.DefaultConfig))
	}
	return daemon.LoadConfig(path)
}

func cmdRun(args []string, stdout, stderr io.Writer) int {
	const synopsis = "run [--config FILE]: register the helpers and serve their queues (root)"
	fs := newFlags("run")
	config := fs.String("config", "", "configuration file (default: the shipped FTP helper on queue 0)")
	pos, status, done := parseArgs(fs, synopsis, args, stdout, stderr)
	if done {
		return status
	}
	if len(pos) > 0 {
		return usageError(stderr, fs, synopsis, "unexpected arguments %q (the configuration is --config FILE)", pos)
	}
	cfg, err := loadConfig(*config)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	log := newLogger(&cfg.Daemon, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := make(chan struct{}, 1)
	go func() {
		for range hup {
			select {
			case reload <- struct{}{}:
			default:
			}
		}
	}()
	defer startCPUProfile(log)()
	err = daemon.Run(ctx, daemon.Options{Config: cfg, Modules: modules(), Builtin: scripts.FS, Logger: log, Reload: reload,
		Version: versionString()})
	if err != nil {
		fmt.Fprintln(stderr, "ctlua run:", diagnoseConfig(*config, cfg, err))
		return exitFailed
	}
	return exitOK
}

func cmdRules(args []string, stdout, stderr io.Writer) int {
	const synopsis = "rules [--config FILE] [--iptables]: print the rules that attach the helpers"
	fs := newFlags("rules")
	config := fs.String("config", "", "configuration file (default: the shipped FTP helper)")
	ipt := fs.Bool("iptables", false, "print iptables/ip6tables commands instead of an nft ruleset")
	pos, status, done := parseArgs(fs, synopsis, args, stdout, stderr)
	if done {
		return status
	}
	if len(pos) > 0 {
		return usageError(stderr, fs, synopsis, "unexpected arguments %q (the configuration is --config FILE)", pos)
	}
	cfg, err := loadConfig(*config)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	rules, err := daemon.RulesFor(cfg, modules(), scripts.FS)
	if err != nil {
		fmt.Fprintln(stderr, diagnoseConfig(*config, cfg, err))
		return exitFailed
	}
	if *ipt {
		err = daemon.WriteIPTables(stdout, rules)
	} else {
		err = daemon.WriteNFT(stdout, rules)
	}
	if err != nil {
		fmt.Fprintln(stderr, "ctlua rules:", err)
		return exitFailed
	}
	return exitOK
}

func cmdHelpers(args []string, stdout, stderr io.Writer) int {
	const synopsis = "helpers [--delete NAME | --flush]: list (or delete) user-space helpers in the kernel (root)"
	fs := newFlags("helpers")
	del := fs.String("delete", "", "delete the user-space helper NAME (all its families and protocols)")
	flush := fs.Bool("flush", false, "delete every user-space helper")
	pos, status, done := parseArgs(fs, synopsis, args, stdout, stderr)
	if done {
		return status
	}
	if len(pos) > 0 {
		return usageError(stderr, fs, synopsis, "unexpected arguments %q", pos)
	}
	c, err := cthelper.Dial(nil)
	if err != nil {
		fmt.Fprintln(stderr, "ctlua helpers:", err)
		return exitFailed
	}
	defer c.Close()
	if *flush {
		if err := c.Flush(); err != nil {
			fmt.Fprintln(stderr, "ctlua helpers:", err)
			return exitFailed
		}
		return exitOK
	}
	hs, err := c.List()
	if err != nil {
		fmt.Fprintln(stderr, "ctlua helpers:", err)
		return exitFailed
	}
	if *del != "" {
		n := 0
		for _, h := range hs {
			if h.Name == *del {
				if err := c.Delete(h.Name, h.L3, h.L4); err != nil && !errors.Is(err, cthelper.ErrNotFound) {
					fmt.Fprintln(stderr, "ctlua helpers:", err)
					return exitFailed
				}
				n++
			}
		}
		if n == 0 {
			fmt.Fprintf(stderr, "ctlua helpers: no user-space helper named %q\n", *del)
			return exitFailed
		}
		return exitOK
	}
	for _, h := range hs {
		status := "disabled"
		if h.Enabled {
			status = "enabled"
		}
		fmt.Fprintf(stdout, "%s %s/%s queue %d priv %d %s", h.Name, h.L3, engine.ProtoName(h.L4), h.QueueNum, h.PrivSize, status)
		for _, p := range h.Policies {
			fmt.Fprintf(stdout, " policy %s max %d timeout %s", p.Name, p.MaxExpected, p.Timeout)
		}
		fmt.Fprintln(stdout)
	}
	return exitOK
}

// startCPUProfile writes a CPU profile of the daemon to the file named by
// CTLUA_CPUPROFILE, if set, until the returned function runs: how the
// pump's cost is measured in the VM (docs/performance.md).
func startCPUProfile(log *slog.Logger) (stop func()) {
	path := os.Getenv("CTLUA_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		log.Warn("cannot write the CPU profile", "file", path, "error", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
