package scripts_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctlua/ctlua/bindings"
	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/engine/enginetest"
	"github.com/ctlua/ctlua/scripts"
	"github.com/ctlua/ctlua/stdlib"
)

func modules() []engine.Module { return append(bindings.Default(), stdlib.Modules()...) }

// helpers lists the shipped helper folders; it fails when there are none.
func helpers(t *testing.T) []string {
	dirs, err := fs.Glob(scripts.FS, "*/helper.lua")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no shipped helpers found (%v)", err)
	}
	for i, d := range dirs {
		dirs[i] = filepath.Dir(d)
	}
	return dirs
}

// readmeSections are the sections every shipped helper's README has.
var readmeSections = []string{"## Description", "## Policies", "## Options", "## Examples", "## Limits"}

// TestHelperFolders checks that every helper folder has what a helper
// needs: a valid script, a Lua test file, a README with the required
// sections, and test data.
func TestHelperFolders(t *testing.T) {
	e, err := engine.New(engine.Config{Workers: 1, Modules: modules()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, dir := range helpers(t) {
		t.Run(dir, func(t *testing.T) {
			h, err := e.LoadFile(filepath.Join(dir, "helper.lua"), nil)
			if err != nil {
				t.Fatal(err)
			}
			if h.Spec.Name != dir {
				t.Errorf("helper in folder %s declares name %q", dir, h.Spec.Name)
			}
			readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
			if err != nil {
				t.Fatal(err)
			}
			for _, section := range readmeSections {
				if !strings.Contains(string(readme), section) {
					t.Errorf("README.md lacks a %q section", section)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "helper_test.lua")); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestHelpersLua runs every helper's helper_test.lua.
func TestHelpersLua(t *testing.T) {
	for _, dir := range helpers(t) {
		t.Run(dir, func(t *testing.T) {
			enginetest.RunLuaTests(t, filepath.Join(dir, "helper_test.lua"), modules())
		})
	}
}
