package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/ctlua/ctlua/engine/enginetest"
)

const testSynopsis = "test [-run REGEXP] [-v] [PATH...]: run the *_test.lua files next to helpers (PATH: a directory, DIR/... for every directory below, or a test file; default .)"

func cmdTest(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("test")
	runPat := fs.String("run", "", "run only the tests whose name matches this regular expression")
	verbose := fs.Bool("v", false, "print every test and its log, not only failures")
	paths, status, done := parseArgs(fs, testSynopsis, args, stdout, stderr)
	if done {
		return status
	}
	match, err := regexp.Compile(*runPat)
	if err != nil {
		return usageError(stderr, fs, testSynopsis, "-run: %v", err)
	}
	if len(paths) == 0 {
		paths = []string{"."}
	}
	files, err := testFiles(paths)
	if err != nil {
		return usageError(stderr, fs, testSynopsis, "%v", err)
	}
	status = exitOK
	for _, f := range files {
		if !runTestFile(f, match, *verbose, stdout) {
			status = exitFailed
		}
	}
	return status
}

// testFiles expands the PATH arguments of ctlua test to test files.
func testFiles(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		if dir, ok := strings.CutSuffix(p, "/..."); ok || p == "..." {
			if p == "..." {
				dir = "."
			}
			err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() && strings.HasSuffix(path, "_test.lua") {
					files = append(files, path)
				}
				return err
			})
			if err != nil {
				return nil, err
			}
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			if !strings.HasSuffix(p, "_test.lua") {
				return nil, fmt.Errorf("%s: not a Lua test file (want NAME_test.lua next to the helper)", p)
			}
			files = append(files, p)
			continue
		}
		found, _ := filepath.Glob(filepath.Join(p, "*_test.lua"))
		if len(found) == 0 {
			return nil, fmt.Errorf("%s: no *_test.lua files (put helper_test.lua next to the helper)", p)
		}
		files = append(files, found...)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no *_test.lua files in %s", strings.Join(paths, " "))
	}
	sort.Strings(files)
	return files, nil
}

// runTestFile runs one test file like go test runs a package: failures
// (and with verbose every test) are printed, then an ok or FAIL line.
func runTestFile(file string, match *regexp.Regexp, verbose bool, out io.Writer) bool {
	start := time.Now()
	s, err := enginetest.LoadLuaTests(file, modules())
	if err != nil {
		fmt.Fprintf(out, "--- FAIL: %v\nFAIL\t%s\n", err, file)
		return false
	}
	defer s.Close()
	ok, ran := true, 0
	for _, name := range s.Names() {
		if !match.MatchString(name) {
			continue
		}
		ran++
		if verbose {
			fmt.Fprintf(out, "=== RUN   %s\n", name)
		}
		tb := &luaTB{}
		t0 := time.Now()
		s.Run(name, tb)
		d := time.Since(t0).Seconds()
		switch {
		case tb.failed:
			ok = false
			fmt.Fprintf(out, "--- FAIL: %s (%s, %.2fs)\n", name, s.Where(name), d)
		case verbose:
			fmt.Fprintf(out, "--- PASS: %s (%.2fs)\n", name, d)
		}
		if tb.failed || verbose {
			for _, l := range tb.lines {
				fmt.Fprintf(out, "    %s\n", strings.ReplaceAll(l, "\n", "\n    "))
			}
		}
	}
	el := time.Since(start).Seconds()
	switch {
	case !ok:
		fmt.Fprintf(out, "FAIL\t%s\t%.3fs\n", file, el)
	case ran == 0:
		fmt.Fprintf(out, "ok  \t%s\t%.3fs [no tests to run]\n", file, el)
	default:
		fmt.Fprintf(out, "ok  \t%s\t%.3fs (%d tests)\n", file, el, ran)
	}
	return ok
}

// luaTB collects what one Lua test reports.
type luaTB struct {
	failed bool
	lines  []string
}

func (t *luaTB) Errorf(format string, args ...any) {
	t.failed = true
	t.lines = append(t.lines, fmt.Sprintf(format, args...))
}

func (t *luaTB) Log(args ...any) { t.lines = append(t.lines, fmt.Sprint(args...)) }
