package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/runtime/cthelper"
	"github.com/ctlua/ctlua/runtime/nfq"
)

func cmdExpect(args []string, stdout, stderr io.Writer) int {
	const synopsis = "expect [--watch] [--helper NAME | --all] [--json]: the kernel's expectations that ctlua's helpers own (root)"
	fs := newFlags("expect")
	watch := fs.Bool("watch", false, "follow expectations as the kernel creates ([NEW]) and removes ([DESTROY]) them, until interrupted")
	helper := fs.String("helper", "", "only the expectations of this helper")
	all := fs.Bool("all", false, "every expectation, the kernel's own helpers' too")
	asJSON := fs.Bool("json", false, "one JSON object a line")
	pos, status, done := parseArgs(fs, synopsis, args, stdout, stderr)
	if done {
		return status
	}
	if len(pos) > 0 {
		return usageError(stderr, fs, synopsis, "unexpected arguments %q", pos)
	}
	if *all && *helper != "" {
		return usageError(stderr, fs, synopsis, "--all and --helper exclude each other")
	}
	f, err := newExpectFilter(*helper, *all)
	if err != nil {
		fmt.Fprintln(stderr, "ctlua expect:", err)
		return exitFailed
	}
	p := expectPrinter{w: stdout, json: *asJSON, f: f}
	if !*watch {
		xs, err := nfq.DumpExpectations(0)
		if err != nil {
			fmt.Fprintln(stderr, "ctlua expect:", err)
			return exitFailed
		}
		sort.SliceStable(xs, func(i, j int) bool { return xs[i].Helper < xs[j].Helper })
		for i := range xs {
			p.print("", &xs[i])
		}
		return exitOK
	}
	ev, err := nfq.ListenExpectations(0)
	if err != nil {
		fmt.Fprintln(stderr, "ctlua expect:", err)
		return exitFailed
	}
	fmt.Fprintln(stderr, "ctlua expect: watching; interrupt to stop")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = ev.Run(ctx, func(e nfq.ExpectEvent) {
		kind := "DESTROY"
		if e.New {
			kind = "NEW"
		}
		p.print(kind, &e.Expectation)
	})
	if err != nil {
		fmt.Fprintln(stderr, "ctlua expect:", err)
		return exitFailed
	}
	return exitOK
}

// An expectFilter keeps the expectations of the chosen helpers and names
// their classes after the helpers' policies.
type expectFilter struct {
	all      bool
	helpers  map[string]bool
	policies map[string][]string // helper -> policy names, by class
}

// newExpectFilter keeps helper's expectations, or every expectation with
// all, or (neither) those of the user-space helpers registered in the
// kernel: ctlua's.
func newExpectFilter(helper string, all bool) (*expectFilter, error) {
	f := &expectFilter{all: all, helpers: map[string]bool{}, policies: map[string][]string{}}
	c, err := cthelper.Dial(nil)
	if err == nil {
		defer c.Close()
		var hs []cthelper.Helper
		if hs, err = c.List(); err == nil {
			for _, h := range hs {
				var names []string
				for _, p := range h.Policies {
					names = append(names, p.Name)
				}
				f.policies[h.Name] = names
				f.helpers[h.Name] = helper == "" || h.Name == helper
			}
		}
	}
	switch {
	case helper != "":
		f.helpers[helper] = true
		return f, nil // the policy names are a nicety
	case all:
		return f, nil
	case err != nil:
		return nil, fmt.Errorf("cannot list the user-space helpers (name one with --helper, or --all): %w", err)
	}
	return f, nil
}

func (f *expectFilter) keep(x *nfq.KernelExpectation) bool { return f.all || f.helpers[x.Helper] }

// policy returns the name of x's class, or "".
func (f *expectFilter) policy(x *nfq.KernelExpectation) string {
	if ps := f.policies[x.Helper]; int(x.Class) < len(ps) {
		return ps[x.Class]
	}
	return ""
}

// expectPrinter prints expectations like `conntrack -L expect`, or as
// JSON.
type expectPrinter struct {
	w    io.Writer
	json bool
	f    *expectFilter
}

// kernelExpectJSON is one expectation of `ctlua expect --json`: the
// fields of `ctlua replay --json`'s expectations, and the kernel's.
type kernelExpectJSON struct {
	Event string `json:"event,omitempty"`
	ID    uint32 `json:"id"`
	jsonExpect
	Policy string   `json:"policy,omitempty"`
	Flags  []string `json:"flags,omitempty"`
	Zone   uint16   `json:"zone,omitempty"`
	Fn     string   `json:"fn,omitempty"`
}

func (p *expectPrinter) print(event string, x *nfq.KernelExpectation) {
	if !p.f.keep(x) {
		return
	}
	if p.json {
		json.NewEncoder(p.w).Encode(kernelExpectJSON{Event: strings.ToLower(event), ID: x.ID,
			jsonExpect: jsonExpectOf(x.Tuple, x.Mask, x.Master, x.Class, x.Helper, x.Timeout),
			Policy:     p.f.policy(x), Flags: expectFlagNames(x.Flags), Zone: x.Zone, Fn: x.Fn})
		return
	}
	fmt.Fprintln(p.w, formatKernelExpect(event, x, p.f.policy(x)))
}

// formatKernelExpect writes x as conntrack(8) does, with the helper first.
func formatKernelExpect(event string, x *nfq.KernelExpectation, policy string) string {
	var b strings.Builder
	if event != "" {
		fmt.Fprintf(&b, "[%s] ", event)
	}
	t, m, o := x.Tuple, x.Mask, x.Master
	fmt.Fprintf(&b, "%s timeout=%d proto=%s src=%s dst=%s sport=%d dport=%d", x.Helper, int(x.Timeout/time.Second),
		engine.ProtoName(t.Proto), t.Src, t.Dst, t.SrcPort, t.DstPort)
	fmt.Fprintf(&b, " mask-src=%s mask-dst=%s sport=%d dport=%d", m.Src, m.Dst, m.SrcPort, m.DstPort)
	fmt.Fprintf(&b, " master-src=%s master-dst=%s sport=%d dport=%d class=%d", o.Src, o.Dst, o.SrcPort, o.DstPort, x.Class)
	if policy != "" {
		fmt.Fprintf(&b, " policy=%s", policy)
	}
	if fl := expectFlagNames(x.Flags); len(fl) > 0 {
		fmt.Fprintf(&b, " flags=%s", strings.Join(fl, ","))
	}
	if x.Zone != 0 {
		fmt.Fprintf(&b, " zone=%d", x.Zone)
	}
	if x.Fn != "" {
		fmt.Fprintf(&b, " fn=%s", x.Fn)
	}
	return b.String()
}

// expectUserspace is NF_CT_EXPECT_USERSPACE: the expectation was
// created over ctnetlink.
const expectUserspace engine.ExpectFlags = 1 << 2

func expectFlagNames(f engine.ExpectFlags) []string {
	var names []string
	for _, n := range []struct {
		bit  engine.ExpectFlags
		name string
	}{{engine.ExpectPermanent, "PERMANENT"}, {engine.ExpectInactive, "INACTIVE"}, {expectUserspace, "USERSPACE"}} {
		if f&n.bit != 0 {
			names = append(names, n.name)
		}
	}
	return names
}
