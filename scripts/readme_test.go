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

var nftHelper = regexp.MustCompile(`ct helper \S+ *\{ *type "([^"]+)" protocol (tcp|udp)`)

// TestREADMEExamples runs the examples of every helper's README: each
// `ctlua` command of a sh block runs from the repository root and must
// succeed (a replay must show an expectation), and each nftables block
// must name the helper as the script declares it and, as root, pass
// `nft -c`, the kernel's own check.
func TestREADMEExamples(t *testing.T) {
	for _, dir := range helpers(t) {
		readme := filepath.Join(dir, "README.md")
		blocks := readmeBlocks(t, readme)
		commands, rules := 0, 0
		for _, b := range blocks {
			where := readme + ":" + strconv.Itoa(b.line)
			switch {
			case b.lang == "sh":
				for _, l := range strings.Split(b.text, "\n") {
					if !strings.HasPrefix(l, "ctlua ") {
						continue
					}
					commands++
					t.Run(where+" "+l, func(t *testing.T) {
						cmd := exec.Command(ctlua(t), strings.Fields(l)[1:]...)
						cmd.Dir = ".."
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
					if m[1] != dir {
						t.Errorf("ct helper type %q, want the helper's name %q", m[1], dir)
					}
					if os.Geteuid() != 0 {
						t.Skip("nft -c needs root: tests/run.sh runs it as root")
					}
					nft, err := exec.LookPath("nft")
					if err != nil {
						t.Fatalf("nft -c needs nft: apt-get install nftables")
					}
					f := filepath.Join(t.TempDir(), "rules.nft")
					if err := os.WriteFile(f, []byte(b.text), 0o644); err != nil {
						t.Fatal(err)
					}
					if out, err := exec.Command(nft, "-c", "-f", f).CombinedOutput(); err != nil {
						t.Errorf("nft -c rejects the rules: %v\n%s", err, out)
					}
				})
			}
		}
		if commands == 0 || rules == 0 {
			t.Errorf("%s: %d ctlua commands and %d nftables examples, want at least one of each", readme, commands, rules)
		}
	}
}
