package engine_test

import (
	"os"
	"testing"

	"github.com/ctlua/ctlua/engine"
)

// BenchmarkCheckFTP measures what a load costs per worker: compiling the
// shipped FTP helper and running its chunk in a fresh sandbox (Check does
// both, once).
func BenchmarkCheckFTP(b *testing.B) {
	src, err := os.ReadFile("../scripts/ftp/helper.lua")
	if err != nil {
		b.Fatal(err)
	}
	e := newEngine(b, engine.Config{Workers: 1})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Check("ftp.lua", src, nil); err != nil {
			b.Fatal(err)
		}
	}
}
