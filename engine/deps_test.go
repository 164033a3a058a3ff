package engine_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoKernelImports enforces the architecture rule: the engine is pure
// Go and never imports netfilter-facing packages (netlink, NFQUEUE,
// ctnetlink) nor the packages above it, directly or indirectly.
func TestNoKernelImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "github.com/ctlua/ctlua/engine").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	forbidden := []string{
		"github.com/mdlayher/netlink",
		"github.com/florianl/go-nfqueue",
		"github.com/ti-mo/conntrack",
		"github.com/ti-mo/netfilter",
		"github.com/ctlua/ctlua/runtime",
		"github.com/ctlua/ctlua/bindings",
		"github.com/ctlua/ctlua/stdlib",
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list returned %d packages; the check would prove nothing", len(deps))
	}
	for _, d := range deps {
		for _, f := range forbidden {
			if d == f || strings.HasPrefix(d, f+"/") {
				t.Errorf("engine depends on %s", d)
			}
		}
	}
}
