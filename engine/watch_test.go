package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ctlua/ctlua/engine"
)

// watchRecorder runs engine.Watch in the background and records its calls.
type watchRecorder struct {
	mu    sync.Mutex
	calls []string
	stop  context.CancelFunc
	done  chan error
}

func startWatch(t *testing.T, paths ...string) *watchRecorder {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &watchRecorder{stop: cancel, done: make(chan error, 1)}
	go func() {
		r.done <- engine.Watch(ctx, paths, 150*time.Millisecond, func(p string) {
			b, _ := os.ReadFile(p)
			r.mu.Lock()
			r.calls = append(r.calls, filepath.Base(p)+"="+string(b))
			r.mu.Unlock()
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-r.done; err != nil {
			t.Errorf("Watch: %v", err)
		}
	})
	time.Sleep(50 * time.Millisecond) // let the watcher start
	return r
}

// settle waits for the debounce to pass and returns the calls so far.
func (r *watchRecorder) settle() []string {
	time.Sleep(600 * time.Millisecond)
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func wantCalls(t *testing.T, got []string, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("calls = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("calls = %q, want %q", got, want)
		}
	}
}

func TestWatchInPlaceAndAtomicRename(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "ftp.lua")
	write(t, f, "v1")
	r := startWatch(t, f)

	write(t, f, "v1") // same content: no call
	wantCalls(t, r.settle())

	write(t, f, "v2")
	wantCalls(t, r.settle(), "ftp.lua=v2")

	// An editor's save: write a temporary file, rename it over the script.
	tmp := filepath.Join(dir, ".ftp.lua.swp")
	write(t, tmp, "v3")
	if err := os.Rename(tmp, f); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, r.settle(), "ftp.lua=v2", "ftp.lua=v3")

	// The watch survived the rename.
	write(t, f, "v4")
	wantCalls(t, r.settle(), "ftp.lua=v2", "ftp.lua=v3", "ftp.lua=v4")
}

func TestWatchPartialWriteIsDebounced(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "ftp.lua")
	write(t, f, "old")
	r := startWatch(t, f)
	fh, err := os.OpenFile(f, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	fh.WriteString("first half ")
	time.Sleep(20 * time.Millisecond) // a slow writer, inside the debounce
	fh.WriteString("second half")
	fh.Close()
	wantCalls(t, r.settle(), "ftp.lua=first half second half")
}

func TestWatchConfigMapSymlinkSwap(t *testing.T) {
	dir := t.TempDir()
	// Kubernetes layout: ftp.lua -> ..data/ftp.lua, ..data -> ..2026_1
	mkdata := func(name, content string) {
		os.Mkdir(filepath.Join(dir, name), 0o755)
		write(t, filepath.Join(dir, name, "ftp.lua"), content)
	}
	mkdata("..2026_1", "v1")
	if err := os.Symlink("..2026_1", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..data/ftp.lua", filepath.Join(dir, "ftp.lua")); err != nil {
		t.Fatal(err)
	}
	r := startWatch(t, filepath.Join(dir, "ftp.lua"))
	mkdata("..2026_2", "v2")
	if err := os.Symlink("..2026_2", filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(dir, "..2026_1"))
	wantCalls(t, r.settle(), "ftp.lua=v2")
}

func TestWatchDirectory(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.lua"), "a1")
	r := startWatch(t, dir)
	write(t, filepath.Join(dir, "b.lua"), "b1") // created later
	write(t, filepath.Join(dir, "notes.txt"), "ignored")
	wantCalls(t, r.settle(), "b.lua=b1")
}
