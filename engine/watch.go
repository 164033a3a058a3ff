package engine

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watch calls fn with the path of each watched script whose content
// changed, until ctx is done. A path is a script file or a directory, whose
// *.lua files are all watched, including ones created later.
//
// Watch watches directories, not files, so that it survives editors that
// save by renaming a temporary file over the script and Kubernetes
// ConfigMap volumes, whose updates swap a ..data symlink and never name the
// script. Events are debounced (a slow writer produces several), and fn is
// called only when the content's SHA-256 changed, so touching a file or a
// partial write that is completed within the debounce interval causes at
// most one call. A zero debounce means 200ms.
func Watch(ctx context.Context, paths []string, debounce time.Duration, fn func(path string)) error {
	if debounce <= 0 {
		debounce = 200 * time.Millisecond
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	defer w.Close()
	dirs, err := watchDirs(paths)
	if err != nil {
		return err
	}
	for _, d := range dirs {
		if err := w.Add(d); err != nil {
			return fmt.Errorf("watch %s: %w", d, err)
		}
	}
	hashes := map[string][32]byte{}
	rescan(paths, hashes, nil)
	timer := time.NewTimer(debounce)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-w.Events:
			if !ok {
				return nil
			}
			timer.Reset(debounce)
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			if !errors.Is(err, fsnotify.ErrEventOverflow) {
				return fmt.Errorf("watch: %w", err)
			}
			timer.Reset(debounce) // events were lost: rescan
		case <-timer.C:
			rescan(paths, hashes, fn)
		}
	}
}

// watchDirs returns the directories to watch for paths: a directory
// itself, a file's parent.
func watchDirs(paths []string) ([]string, error) {
	var dirs []string
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("watch %s: %w", p, err)
		}
		fi, err := os.Stat(abs)
		if err != nil {
			return nil, fmt.Errorf("watch: %w", err)
		}
		if fi.IsDir() {
			dirs = append(dirs, abs)
		} else {
			dirs = append(dirs, filepath.Dir(abs))
		}
	}
	return dedup(dirs), nil
}

// scriptFiles lists the scripts paths name now: the files, and the *.lua
// files of the directories.
func scriptFiles(paths []string) []string {
	var fs []string
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			m, _ := filepath.Glob(filepath.Join(p, "*.lua"))
			fs = append(fs, m...)
		} else {
			fs = append(fs, p)
		}
	}
	return dedup(fs)
}

// rescan records the SHA-256 of every script in hashes and calls fn (if
// not nil) for each whose content is new or changed.
func rescan(paths []string, hashes map[string][32]byte, fn func(path string)) {
	for _, f := range scriptFiles(paths) {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // mid-rename or deleted: the next event rescans
		}
		sum := sha256.Sum256(b)
		if old, ok := hashes[f]; ok && old == sum {
			continue
		}
		hashes[f] = sum
		if fn != nil {
			fn(f)
		}
	}
}

func dedup(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
