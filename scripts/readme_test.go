package scripts_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/runtime/cthelper"
)

// A block is one fenced code block of a README.
type block struct {
	lang string
	line int
	text string
}

func readmeBlocks(t *testing.T, path string) []block {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []block
	var cur *block
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(l, "```"):
			cur = &block{lang: strings.TrimPrefix(l, "```"), line: n}
		case cur != nil && l == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.text += l + "\n"
		}
	}
	return out
}

var (
	buildOnce sync.Once
	ctluaBin  string
	buildErr  error
)

// ctlua builds the ctlua command once for the README examples.
func ctlua(t *testing.T) string {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ctlua-readme")
		if err != nil {
			buildErr = err
			return
		}
		ctluaBin = filepath.Join(dir, "ctlua")
		if out, err := exec.Command("go", "build", "-o", ctluaBin, "../cmd/ctlua").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("%w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("building ctlua: %v", buildErr)
	}
	return ctluaBin
}

var nftHelper = regexp.MustCompile(`ct helper \S+\s*\{\s*type "([^"]+)" protocol (tcp|udp)`)

// TestREADMEExamples runs the examples of every shipped helper's README
// (checkREADME). This contract is for the helpers shipped in scripts/; a
// user's helper elsewhere needs only its tests (ctlua test).
func TestREADMEExamples(t *testing.T) {
	for _, dir := range helpers(t) {
		checkREADME(t, "..", "scripts/"+dir, helperSpec(t, dir))
	}
}

// checkREADME runs the examples of the README of the helper in dir: each
// `ctlua` command of a sh block runs from root and must succeed (a replay
// must show an expectation), and each nftables block must name the helper
// as the script declares it and, as root, pass `nft -c`, the kernel's own
// check (see checkRules for helpers the kernel does not know yet).
func checkREADME(t *testing.T, root, dir string, spec *engine.Spec) {
	readme := filepath.Join(root, dir, "README.md")
	commands, rules := 0, 0
	for _, b := range readmeBlocks(t, readme) {
		where := filepath.Join(dir, "README.md") + ":" + strconv.Itoa(b.line)
		switch {
		case b.lang == "sh":
			for _, l := range strings.Split(b.text, "\n") {
				if !strings.HasPrefix(l, "ctlua ") {
					continue
				}
				commands++
				t.Run(where+" "+l, func(t *testing.T) {
					cmd := exec.Command(ctlua(t), strings.Fields(l)[1:]...)
					cmd.Dir = root
					out, err := cmd.CombinedOutput()
					if err != nil {
						t.Fatalf("%s: %v\n%s", l, err, out)
					}
					if strings.Contains(l, " replay ") && !strings.Contains(string(out), " expect ") {
						t.Errorf("%s shows no expectation:\n%s", l, out)
					}
				})
			}
		case strings.Contains(b.text, "ct helper"):
			rules++
			t.Run(where+" nft", func(t *testing.T) {
				m := nftHelper.FindStringSubmatch(b.text)
				if m == nil {
					t.Fatalf("no ct helper object in the rules:\n%s", b.text)
				}
				if m[1] != spec.Name {
					t.Errorf("ct helper type %q, want the helper's name %q", m[1], spec.Name)
				}
				checkRules(t, spec, b.text)
			})
		}
	}
	if commands == 0 || rules == 0 {
		t.Errorf("%s: %d ctlua commands and %d nftables examples, want at least one of each", readme, commands, rules)
	}
}

// TestNewHelperMeetsTheContract: a helper made by `ctlua new` in a
// clone's scripts/ folder meets the shipped-helper contract at once: its
// README's commands run from the root, and its nftables rules pass (as
// root) although no kernel knows the helper. A red build for a new helper
// would be a bug (issue 10).
func TestNewHelperMeetsTheContract(t *testing.T) {
	root := t.TempDir()
	cmd := exec.Command(ctlua(t), "new", "acmetest", "--dir", "scripts/acmetest", "--l4", "udp", "--port", "7100")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ctlua new: %v\n%s", err, out)
	}
	e, err := engine.New(engine.Config{Workers: 1, Modules: modules()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	h, err := e.LoadFile(filepath.Join(root, "scripts/acmetest/helper.lua"), nil)
	if err != nil {
		t.Fatal(err)
	}
	readme, _ := os.ReadFile(filepath.Join(root, "scripts/acmetest/README.md"))
	for _, section := range readmeSections {
		if !strings.Contains(string(readme), section) {
			t.Errorf("README.md lacks a %q section", section)
		}
	}
	checkREADME(t, root, "scripts/acmetest", &h.Spec)
}

// helperSpec loads a shipped helper and returns its declaration.
func helperSpec(t *testing.T, dir string) *engine.Spec {
	e, err := engine.New(engine.Config{Workers: 1, Modules: modules()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	h, err := e.LoadFile(filepath.Join(dir, "helper.lua"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return &h.Spec
}

// checkRules runs `nft -c` on an nftables example as root. A ct helper
// object whose type the kernel does not know is refused by `nft -c` even
// when the rules are right ("No such file or directory"), and a new
// helper is unknown until ctlua runs it. So when that is the only
// complaint, the helper is registered as the daemon would (nfnetlink
// cthelper), the check runs again and the registration is removed; when
// it cannot be registered, nft's parse succeeded (the kernel only
// refused the unknown type) and the check passes as syntax-only.
func checkRules(t *testing.T, spec *engine.Spec, rules string) {
	if os.Geteuid() != 0 {
		t.Skip("nft -c needs root: tests/run.sh runs it as root")
	}
	nft, err := exec.LookPath("nft")
	if err != nil {
		t.Fatalf("nft -c needs nft: apt-get install nftables")
	}
	f := filepath.Join(t.TempDir(), "rules.nft")
	if err := os.WriteFile(f, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(nft, "-c", "-f", f).CombinedOutput()
	if err == nil {
		return
	}
	if !onlyUnknownHelper(string(out), rules, spec.Name) {
		t.Fatalf("nft -c rejects the rules: %v\n%s", err, out)
	}
	undo, rerr := registerHelper(spec)
	if rerr != nil {
		t.Logf("the kernel does not know helper %q and it cannot be registered here (%v): rules checked for syntax only", spec.Name, rerr)
		return
	}
	defer undo()
	if out, err := exec.Command(nft, "-c", "-f", f).CombinedOutput(); err != nil {
		t.Errorf("nft -c rejects the rules with helper %q registered: %v\n%s", spec.Name, err, out)
	}
}

// onlyUnknownHelper reports whether nft's errors on rules are all the
// kernel refusing the ct helper objects of type name, and the rules that
// attach those objects (they fail because the objects were not created).
func onlyUnknownHelper(out, rules, name string) bool {
	objects := map[string]bool{}
	decl := regexp.MustCompile(`ct helper (\S+)\s*\{\s*type "` + regexp.QuoteMeta(name) + `"`)
	for _, m := range decl.FindAllStringSubmatch(rules, -1) {
		objects[m[1]] = true
	}
	lines := strings.Split(out, "\n")
	declared := 0
	for i, l := range lines {
		if !strings.Contains(l, "Error:") {
			continue
		}
		if !strings.Contains(l, "Could not process rule: No such file or directory") || i+1 >= len(lines) {
			return false
		}
		f := strings.Fields(lines[i+1])
		switch {
		case len(f) >= 3 && f[0] == "ct" && f[1] == "helper" && objects[f[2]]:
			declared++
		case len(f) >= 2 && f[len(f)-2] == "set" && objects[strings.Trim(f[len(f)-1], `"`)]:
		default:
			return false
		}
	}
	return declared > 0
}

// registerHelper registers spec's helper in the kernel for every L3 and
// L4 it serves and returns the function that deletes the registrations.
func registerHelper(spec *engine.Spec) (undo func(), err error) {
	kc, err := cthelper.Dial(nil)
	if err != nil {
		return nil, err
	}
	var done []cthelper.Helper
	undo = func() {
		for _, h := range done {
			kc.Delete(h.Name, h.L3, h.L4)
		}
		kc.Close()
	}
	for _, l3 := range []struct {
		on bool
		p  cthelper.L3Proto
	}{{spec.IPv4, cthelper.IPv4}, {spec.IPv6, cthelper.IPv6}} {
		if !l3.on {
			continue
		}
		for _, l4 := range spec.L4s() {
			h := cthelper.Helper{Name: spec.Name, L3: l3.p, L4: l4, PrivSize: uint32(spec.PrivateSize)}
			for _, p := range spec.Policies {
				h.Policies = append(h.Policies, cthelper.Policy{Name: p.Name, MaxExpected: p.MaxExpected, Timeout: p.Timeout})
			}
			if err := kc.Create(h); err != nil {
				undo()
				return nil, err
			}
			done = append(done, h)
		}
	}
	return undo, nil
}

// TestRulesCheckOfANewHelper is the nft check of a helper no kernel
// knows: it must not fail the build (issue 10).
func TestRulesCheckOfANewHelper(t *testing.T) {
	spec := &engine.Spec{Name: "ctlua-new-test", IPv4: true, IPv6: true, Proto: engine.ProtoTCP,
		Policies: []engine.Policy{{Name: "data", MaxExpected: 1, Timeout: time.Minute}}}
	checkRules(t, spec, `table inet ctluatest {
  ct helper acme-ip  { type "ctlua-new-test" protocol tcp; l3proto ip; }
  ct helper acme-ip6 { type "ctlua-new-test" protocol tcp; l3proto ip6; }
  chain prerouting {
    type filter hook prerouting priority filter; policy accept;
    meta nfproto ipv4 tcp dport 7000 ct helper set "acme-ip"
  }
}
`)
}

func TestOnlyUnknownHelper(t *testing.T) {
	rules := "table inet t {\n ct helper a { type \"acme\" protocol tcp; l3proto ip; }\n ct helper b {\n\ttype \"acme\" protocol tcp\n }\n}\n"
	unknown := "/tmp/r.nft:2:12-12: Error: Could not process rule: No such file or directory\n ct helper a { type \"acme\" protocol tcp; l3proto ip; }\n           ^\n"
	multi := "/tmp/r.nft:3:12-12: Error: Could not process rule: No such file or directory\n ct helper b {\n           ^\n"
	set := "/tmp/r.nft:6:52-60: Error: Could not process rule: No such file or directory\n  meta nfproto ipv4 tcp dport 7000 ct helper set \"a\"\n"
	for _, tt := range []struct {
		out, name string
		want      bool
	}{
		{unknown, "acme", true},
		{multi, "acme", true},
		{unknown + multi + set, "acme", true},
		{unknown, "other", false},
		{unknown + "/tmp/r.nft:5:1-3: Error: syntax error, unexpected junk\njunk\n", "acme", false},
		{"", "acme", false},
		{set, "acme", false},
		{strings.Replace(set, `"a"`, `"zz"`, 1) + unknown, "acme", false},
	} {
		if got := onlyUnknownHelper(tt.out, rules, tt.name); got != tt.want {
			t.Errorf("onlyUnknownHelper(%q, %q) = %v, want %v", tt.out, tt.name, got, tt.want)
		}
	}
}
