package engine

import (
	"testing"
)

// BenchmarkNewSandbox measures one Lua state with the locked standard
// library, before any module or script: the price of a sandbox per helper
// version and worker.
func BenchmarkNewSandbox(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sb, err := newSandbox(nil, &Session{})
		if err != nil {
			b.Fatal(err)
		}
		sb.L.Close()
	}
}
