package main

import (
	"runtime"
	"strings"
	"testing"
)

// The package build sets main.version and main.commit with -X
// (dist/build-deb.sh): ctlua version prints both.
func TestVersionWithCommit(t *testing.T) {
	defer func(v, c string) { version, commit = v, c }(version, commit)
	version, commit = "1.2.3", "0123456789ab"
	var out, errs strings.Builder
	if st := run([]string{"version"}, &out, &errs); st != exitOK {
		t.Fatalf("exit %d: %s", st, errs.String())
	}
	want := "ctlua 1.2.3 0123456789ab " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	if out.String() != want {
		t.Fatalf("version printed %q, want %q", out.String(), want)
	}
}
