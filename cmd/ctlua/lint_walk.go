package main

import (
	"github.com/yuin/gopher-lua/ast"
)

// block walks a block in a new scope with names declared in it.
func (l *linter) block(stmts []ast.Stmt, names ...string) {
	l.push()
	for _, n := range names {
		l.declare(n, &localVar{})
	}
	for _, st := range stmts {
		l.stmt(st)
	}
	l.pop()
}

func (l *linter) stmt(st ast.Stmt) {
	switch s := st.(type) {
	case *ast.LocalAssignStmt:
		if _, ok := singleFunc(s); ok {
			// local function f: f is visible in its own body
			l.declare(s.Names[0], &localVar{line: s.Line()})
		}
		l.exprs(s.Exprs)
		for i, n := range s.Names {
			v := &localVar{line: s.Line()}
			if i < len(s.Exprs) {
				if mod, ok := requireOf(s.Exprs[i]); ok {
					v.module, v.isReq = mod, true
					if l.members[mod] == nil {
						l.warn(s.Line(), "require of unknown module '%s' (ctlua modules are ctlua.NAME)", mod)
					}
				}
			}
			if _, ok := singleFunc(s); !ok {
				l.declare(n, v)
			}
		}
	case *ast.AssignStmt:
		l.exprs(s.Rhs)
		for _, e := range s.Lhs {
			if id, ok := e.(*ast.IdentExpr); ok {
				l.assignGlobal(id.Value)
			} else {
				l.expr(e)
			}
		}
	case *ast.FuncDefStmt:
		if id, ok := s.Name.Func.(*ast.IdentExpr); ok && s.Name.Receiver == nil {
			l.assignGlobal(id.Value)
		} else {
			l.expr(s.Name.Func)
			if s.Name.Receiver != nil {
				l.expr(s.Name.Receiver)
			}
		}
		l.function(s.Func, s.Name.Method != "")
	case *ast.FuncCallStmt:
		l.expr(s.Expr)
	case *ast.ReturnStmt:
		l.exprs(s.Exprs)
	default:
		l.control(st)
	}
}

// control walks the statements with blocks.
func (l *linter) control(st ast.Stmt) {
	switch s := st.(type) {
	case *ast.DoBlockStmt:
		l.block(s.Stmts)
	case *ast.WhileStmt:
		l.expr(s.Condition)
		l.block(s.Stmts)
	case *ast.RepeatStmt:
		l.push()
		for _, x := range s.Stmts {
			l.stmt(x)
		}
		l.expr(s.Condition) // the condition sees the body's locals
		l.pop()
	case *ast.IfStmt:
		l.expr(s.Condition)
		l.block(s.Then)
		l.block(s.Else)
	case *ast.NumberForStmt:
		l.exprs([]ast.Expr{s.Init, s.Limit, s.Step})
		l.block(s.Stmts, s.Name)
	case *ast.GenericForStmt:
		l.exprs(s.Exprs)
		l.block(s.Stmts, s.Names...)
	}
}

// assignGlobal records a global set at the top level: reads after it
// there are no longer "before set".
func (l *linter) assignGlobal(name string) {
	if v := l.lookup(name); v != nil {
		return // a local, not a global
	}
	if l.depth == 0 {
		l.setSoFar[name] = true
	}
}

func (l *linter) function(f *ast.FunctionExpr, method bool) {
	l.depth++
	l.push()
	if method {
		l.declare("self", &localVar{})
	}
	for _, n := range f.ParList.Names {
		l.declare(n, &localVar{module: typedParams[n]})
	}
	for _, st := range f.Stmts {
		l.stmt(st)
	}
	l.pop()
	l.depth--
}

func (l *linter) exprs(es []ast.Expr) {
	for _, e := range es {
		if e != nil {
			l.expr(e)
		}
	}
}

func (l *linter) expr(e ast.Expr) {
	switch x := e.(type) {
	case *ast.IdentExpr:
		l.read(x)
	case *ast.AttrGetExpr:
		l.member(x)
	case *ast.FuncCallExpr:
		l.call(x)
	case *ast.FunctionExpr:
		l.function(x, false)
	case *ast.TableExpr:
		for _, f := range x.Fields {
			l.exprs([]ast.Expr{f.Key, f.Value})
		}
	case *ast.LogicalOpExpr:
		l.exprs([]ast.Expr{x.Lhs, x.Rhs})
	case *ast.RelationalOpExpr:
		l.exprs([]ast.Expr{x.Lhs, x.Rhs})
	case *ast.StringConcatOpExpr:
		l.exprs([]ast.Expr{x.Lhs, x.Rhs})
	case *ast.ArithmeticOpExpr:
		l.exprs([]ast.Expr{x.Lhs, x.Rhs})
	case *ast.UnaryMinusOpExpr:
		l.expr(x.Expr)
	case *ast.UnaryNotOpExpr:
		l.expr(x.Expr)
	case *ast.UnaryLenOpExpr:
		l.expr(x.Expr)
	}
}

// read checks a name that is read: a local, a sandbox global, or a global
// the script sets (at the top level, before this read).
func (l *linter) read(id *ast.IdentExpr) {
	if v := l.lookup(id.Value); v != nil {
		v.used = true
		return
	}
	switch {
	case sandboxGlobals[id.Value]:
	case id.Value == "print":
		l.warn(id.Line(), "'print' exists only under ctlua replay and ctlua test: the daemon has no print")
	case !l.globals[id.Value]:
		l.warn(id.Line(), "undefined global '%s' (a missing local or require?)", id.Value)
	case l.depth == 0 && !l.setSoFar[id.Value]:
		l.warn(id.Line(), "global '%s' is read before it is set", id.Value)
	}
}

// member checks x.name on a module or a typed value.
func (l *linter) member(x *ast.AttrGetExpr) {
	l.expr(x.Object)
	key, ok := x.Key.(*ast.StringExpr)
	if !ok {
		l.expr(x.Key)
		return
	}
	l.checkMember(x.Object, key.Value, x.Line(), ".")
}

func (l *linter) call(x *ast.FuncCallExpr) {
	if x.Receiver != nil {
		l.expr(x.Receiver)
		l.checkMember(x.Receiver, x.Method, x.Line(), ":")
	} else {
		l.expr(x.Func)
	}
	l.exprs(x.Args)
}

// checkMember warns when obj is a known module or type without name.
func (l *linter) checkMember(obj ast.Expr, name string, line int, sep string) {
	id, ok := obj.(*ast.IdentExpr)
	if !ok {
		return
	}
	v := l.lookup(id.Value)
	if v == nil || v.module == "" {
		return
	}
	if ms, known := l.members[v.module]; known && !ms[name] {
		l.warn(line, "unknown member '%s%s%s': %s has no %s", id.Value, sep, name, v.module, name)
	}
}

// requireOf reports whether e is require("name") and returns the name.
func requireOf(e ast.Expr) (string, bool) {
	c, ok := e.(*ast.FuncCallExpr)
	if !ok || c.Receiver != nil || len(c.Args) != 1 {
		return "", false
	}
	if id, ok := c.Func.(*ast.IdentExpr); !ok || id.Value != "require" {
		return "", false
	}
	s, ok := c.Args[0].(*ast.StringExpr)
	if !ok {
		return "", false
	}
	return s.Value, true
}

// singleFunc reports whether s declares one local function, the form
// "local function f" parses to.
func singleFunc(s *ast.LocalAssignStmt) (*ast.FunctionExpr, bool) {
	if len(s.Names) != 1 || len(s.Exprs) != 1 {
		return nil, false
	}
	f, ok := s.Exprs[0].(*ast.FunctionExpr)
	return f, ok
}
