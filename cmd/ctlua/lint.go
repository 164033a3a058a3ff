package main

import (
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/engine/enginetest"
	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/ast"
	"github.com/yuin/gopher-lua/parse"
)

// A finding is one lint warning, at file:line:col.
type finding struct {
	line, col int
	msg       string
	decl      bool // the quoted name's declaration, not a read
}

// sandboxGlobals are the globals a helper finds in its sandbox (and a
// test file in its state): the safe base library and the libraries.
var sandboxGlobals = map[string]bool{
	"assert": true, "error": true, "ipairs": true, "next": true, "pairs": true, "pcall": true,
	"rawequal": true, "rawget": true, "rawset": true, "select": true, "setmetatable": true,
	"getmetatable": true, "tonumber": true, "tostring": true, "type": true, "unpack": true,
	"xpcall": true, "_G": true, "_VERSION": true, "require": true,
	"table": true, "string": true, "math": true, "coroutine": true,
}

// typedParams are parameter names the lint knows the type of: the
// arguments of on_packet as every helper names them.
var typedParams = map[string]string{"pkt": engine.PacketType, "conn": engine.ConnType}

// linter walks one chunk. Scopes map local names to their variables.
type linter struct {
	members  map[string]map[string]bool // module or type -> its members
	scopes   []map[string]*localVar
	globals  map[string]bool // assigned anywhere
	setSoFar map[string]bool // assigned before the current top-level statement
	depth    int             // function nesting
	found    []finding
}

type localVar struct {
	line   int
	module string // "ctlua.x" when bound to require("ctlua.x"), or a type
	used   bool
	isReq  bool
}

// lint returns the warnings for a script's source.
func lint(file string, src []byte, members map[string]map[string]bool) ([]finding, error) {
	chunk, err := parse.Parse(bytes.NewReader(src), file)
	if err != nil {
		return nil, err
	}
	l := &linter{members: members, globals: map[string]bool{}, setSoFar: map[string]bool{}}
	collectGlobals(chunk, l.globals)
	l.push()
	for _, st := range chunk {
		l.stmt(st)
	}
	l.pop()
	lines := strings.Split(string(src), "\n")
	for i := range l.found {
		l.found[i].col = column(lines, l.found[i])
	}
	sort.SliceStable(l.found, func(i, j int) bool { return l.found[i].line < l.found[j].line })
	return l.found, nil
}

var quoted = regexp.MustCompile(`'([^']+)'`)

// column finds the column of the name a finding quotes on its line: the
// AST has lines only.
func column(lines []string, f finding) int {
	m := quoted.FindStringSubmatch(f.msg)
	if m == nil || f.line < 1 || f.line > len(lines) {
		return 1
	}
	name := m[1]
	if i := strings.LastIndexAny(name, ".:"); i >= 0 {
		name = name[i+1:]
	}
	text := lines[f.line-1]
	first := 0
	for from := 0; ; {
		i := strings.Index(text[from:], name)
		if i < 0 || name == "" {
			break
		}
		at := from + i
		end := at + len(name)
		from = at + 1
		if (at > 0 && isIdent(text[at-1])) || (end < len(text) && isIdent(text[end])) {
			continue // part of a longer name
		}
		if first == 0 {
			first = at + 1
		}
		rest := strings.TrimLeft(text[end:], " \t")
		assigned := strings.HasPrefix(rest, "=") && !strings.HasPrefix(rest, "==")
		if assigned == f.decl {
			return at + 1
		}
	}
	return max(first, 1)
}

func isIdent(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func (l *linter) warn(line int, format string, args ...any) {
	l.found = append(l.found, finding{line: line, msg: fmt.Sprintf(format, args...)})
}

func (l *linter) push() { l.scopes = append(l.scopes, map[string]*localVar{}) }

// pop closes a scope and reports its requires that were never used.
func (l *linter) pop() {
	for name, v := range l.scopes[len(l.scopes)-1] {
		if v.isReq && !v.used {
			l.warn(v.line, "unused require: local '%s' = require(%q) is never used", name, v.module)
			l.found[len(l.found)-1].decl = true
		}
	}
	l.scopes = l.scopes[:len(l.scopes)-1]
}

func (l *linter) declare(name string, v *localVar) { l.scopes[len(l.scopes)-1][name] = v }

func (l *linter) lookup(name string) *localVar {
	for i := len(l.scopes) - 1; i >= 0; i-- {
		if v, ok := l.scopes[i][name]; ok {
			return v
		}
	}
	return nil
}

// collectGlobals records every name assigned as a global anywhere.
func collectGlobals(stmts []ast.Stmt, out map[string]bool) {
	for _, st := range stmts {
		switch s := st.(type) {
		case *ast.AssignStmt:
			for _, e := range s.Lhs {
				if id, ok := e.(*ast.IdentExpr); ok {
					out[id.Value] = true
				}
			}
		case *ast.FuncDefStmt:
			if id, ok := s.Name.Func.(*ast.IdentExpr); ok {
				out[id.Value] = true
			}
		}
	}
}

// lintMembers lists what every ctlua module and the packet and conn types
// give Lua, from the bindings themselves.
func lintMembers() map[string]map[string]bool {
	L := lua.NewState()
	defer L.Close()
	out := map[string]map[string]bool{}
	set := func(v lua.LValue) map[string]bool {
		m := map[string]bool{}
		if t, ok := v.(*lua.LTable); ok {
			t.ForEach(func(k, _ lua.LValue) { m[k.String()] = true })
		}
		return m
	}
	for _, m := range append(modules(), enginetest.PrintModule(nil)) {
		out[m.Name()] = set(m.Open(L, &engine.Session{}))
	}
	for _, typ := range []string{engine.PacketType, engine.ConnType} {
		if mt, ok := L.GetTypeMetatable(typ).(*lua.LTable); ok {
			out[typ] = set(mt.RawGetString("__index"))
		}
	}
	out["ctlua.testing"] = map[string]bool{"load": true}
	return out
}
