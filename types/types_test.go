package types_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/ctlua/ctlua/bindings"
	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/engine/enginetest"
	"github.com/ctlua/ctlua/stdlib"
	"github.com/ctlua/ctlua/types"
	"github.com/google/go-cmp/cmp"
	lua "github.com/yuin/gopher-lua"
)

// classTypes maps the classes of the definition files to the metatables
// the Go code registers for them.
var classTypes = map[string]string{
	"ctlua.Packet":         engine.PacketType,
	"ctlua.Conn":           engine.ConnType,
	"ctlua.Reader":         "ctlua.reader",
	"ctlua.testing.T":      "testing.T",
	"ctlua.testing.Helper": "testing.helper",
	"ctlua.testing.Conn":   "testing.conn",
}

var (
	metaRe   = regexp.MustCompile(`^---@meta (\S+)`)
	classRe  = regexp.MustCompile(`^---@class (\S+?)(?:: (\S+))?$`)
	localRe  = regexp.MustCompile(`^local (\w+) = \{\}`)
	funcRe   = regexp.MustCompile(`^function (\w+)[.:](\w+)\(`)
	returnRe = regexp.MustCompile(`^return (\w+)$`)
)

// declared reads the definition files: the members declared for every
// module (by require name) and every class.
func declared(t *testing.T) (modules, classes map[string][]string) {
	modules, classes = map[string][]string{}, map[string][]string{}
	files, err := fs.Glob(types.FS, "*.d.lua")
	if err != nil || len(files) == 0 {
		t.Fatalf("no definition files (%v)", err)
	}
	parents := map[string]string{}
	for _, f := range files {
		src, err := fs.ReadFile(types.FS, f)
		if err != nil {
			t.Fatal(err)
		}
		var meta, class, ret string
		vars := map[string]string{} // local -> class ("" for the module table)
		funcs := map[string][]string{}
		for _, l := range strings.Split(string(src), "\n") {
			if m := metaRe.FindStringSubmatch(l); m != nil {
				meta = m[1]
			} else if m := classRe.FindStringSubmatch(l); m != nil {
				class = m[1]
				if m[2] != "" {
					parents[m[1]] = m[2]
				}
			} else if m := localRe.FindStringSubmatch(l); m != nil {
				vars[m[1]], class = class, ""
			} else if m := funcRe.FindStringSubmatch(l); m != nil {
				funcs[m[1]] = append(funcs[m[1]], m[2])
			} else if m := returnRe.FindStringSubmatch(l); m != nil {
				ret = m[1]
			} else if !strings.HasPrefix(l, "---") {
				class = ""
			}
		}
		if meta == "" || ret == "" {
			t.Fatalf("%s: want ---@meta NAME and return MODULE", f)
		}
		if want := meta + ".d.lua"; f != want {
			t.Errorf("%s declares module %s: name it %s", f, meta, want)
		}
		for v, c := range vars {
			if c != "" && v != ret {
				classes[c] = append(classes[c], funcs[v]...)
			}
		}
		modules[meta] = append(modules[meta], funcs[ret]...)
		if c := vars[ret]; c != "" {
			parents[meta] = parents[c] // the module table holds a class's methods too
		}
	}
	for m := range modules {
		if p, ok := parents[m]; ok {
			modules[m] = append(modules[m], classes[p]...)
		}
	}
	return modules, classes
}

// exported opens the Go modules and lists what they give Lua.
func exported(t *testing.T) (modules, classes map[string][]string) {
	modules, classes = map[string][]string{}, map[string][]string{}
	L := lua.NewState()
	defer L.Close()
	all := append(append(bindings.Default(), stdlib.Modules()...), enginetest.PrintModule(nil))
	for _, m := range all {
		modules[m.Name()] = keys(m.Open(L, &engine.Session{}))
	}
	test := filepath.Join(t.TempDir(), "x_test.lua")
	if err := os.WriteFile(test, []byte("function Test(t) end"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := enginetest.LoadLuaTests(test, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.L.DoString(`return require("ctlua.testing")`); err != nil {
		t.Fatal(err)
	}
	modules["ctlua.testing"] = keys(s.L.Get(-1))
	for class, typ := range classTypes {
		state := L
		if strings.HasPrefix(typ, "testing.") {
			state = s.L
		}
		mt, ok := state.GetTypeMetatable(typ).(*lua.LTable)
		if !ok {
			t.Fatalf("no metatable %s", typ)
		}
		classes[class] = keys(mt.RawGetString("__index"))
	}
	return modules, classes
}

func keys(v lua.LValue) []string {
	var out []string
	if tb, ok := v.(*lua.LTable); ok {
		tb.ForEach(func(k, _ lua.LValue) { out = append(out, k.String()) })
	}
	return out
}

func normalize(m map[string][]string) map[string][]string {
	for k, v := range m {
		sort.Strings(v)
		m[k] = slices.Compact(v)
	}
	return m
}

// TestDefinitionsMatchBindings: every name the Go bindings give Lua is
// declared in the definition files, and nothing declared is missing
// from the bindings.
func TestDefinitionsMatchBindings(t *testing.T) {
	dm, dc := declared(t)
	gm, gc := exported(t)
	if diff := cmp.Diff(normalize(gm), normalize(dm)); diff != "" {
		t.Errorf("modules: bindings (-) and definitions (+) differ:\n%s", diff)
	}
	if diff := cmp.Diff(normalize(gc), normalize(dc)); diff != "" {
		t.Errorf("classes: bindings (-) and definitions (+) differ:\n%s", diff)
	}
}
