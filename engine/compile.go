package engine

import (
	"bytes"
	"fmt"
	"reflect"
	"time"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/ast"
	"github.com/yuin/gopher-lua/parse"
)

// Bounds on what the compiler accepts. gopher-lua's parser keeps its own
// stack, but its compiler recurses once per syntax level, so a script with
// a million nested braces would overflow the Go stack, which kills the
// process instead of failing the load. The nesting bound keeps the
// recursion shallow; the size bound keeps parsing fast; the time bound
// catches whatever the two others miss.
const (
	// MaxSourceSize is the largest script accepted, in bytes.
	MaxSourceSize = 512 << 10
	// MaxNesting is the deepest nesting of expressions and statements
	// accepted (an elseif chain counts as one level). Reference Lua stops
	// at 200 levels.
	MaxNesting = 200
	// CompileTimeout bounds parsing and compiling one script.
	CompileTimeout = 5 * time.Second
)

// compile parses and compiles a script within the bounds above. It never
// crashes the process: every failure is a *DeclError.
func compile(file string, src []byte) (*lua.FunctionProto, []ast.Stmt, error) {
	if len(src) > MaxSourceSize {
		return nil, nil, &DeclError{File: file,
			Msg: fmt.Sprintf("script is %d bytes: at most %d are accepted", len(src), MaxSourceSize)}
	}
	type result struct {
		proto *lua.FunctionProto
		chunk []ast.Stmt
		err   error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() {
			if v := recover(); v != nil {
				r = result{err: &DeclError{File: file, Msg: fmt.Sprintf("compiler failed: %v", v)}}
			}
			done <- r
		}()
		r.proto, r.chunk, r.err = compileUnbounded(file, src)
	}()
	t := time.NewTimer(CompileTimeout)
	defer t.Stop()
	select {
	case r := <-done:
		return r.proto, r.chunk, r.err
	case <-t.C:
		// The goroutine finishes on its own: its input is bounded.
		return nil, nil, &DeclError{File: file, Msg: fmt.Sprintf("compiling took longer than %s", CompileTimeout)}
	}
}

func compileUnbounded(file string, src []byte) (*lua.FunctionProto, []ast.Stmt, error) {
	chunk, err := parse.Parse(bytes.NewReader(src), file)
	if err != nil {
		return nil, nil, syntaxError(file, err)
	}
	if line, deep := tooDeep(reflect.ValueOf(chunk), 0, 0); deep {
		return nil, nil, &DeclError{File: file, Line: line,
			Msg: fmt.Sprintf("nesting is deeper than %d levels", MaxNesting)}
	}
	proto, err := lua.Compile(chunk, file)
	if err != nil {
		return nil, nil, syntaxError(file, err)
	}
	return proto, chunk, nil
}

var (
	exprType = reflect.TypeFor[ast.Expr]()
	stmtType = reflect.TypeFor[ast.Stmt]()
)

// tooDeep reports whether the syntax tree under v nests expressions and
// statements deeper than MaxNesting, and the line where it does. Its own
// recursion stops at that depth.
func tooDeep(v reflect.Value, depth, line int) (int, bool) {
	switch v.Kind() {
	case reflect.Interface:
		if v.IsNil() {
			return 0, false
		}
		if v.Type() == exprType || v.Type() == stmtType {
			if ph, ok := v.Interface().(ast.PositionHolder); ok {
				line = ph.Line()
			}
			if depth++; depth > MaxNesting {
				return line, true
			}
		}
		return tooDeep(v.Elem(), depth, line)
	case reflect.Pointer:
		if v.IsNil() {
			return 0, false
		}
		if n, ok := v.Interface().(*ast.IfStmt); ok {
			return ifTooDeep(n, depth, line)
		}
		return tooDeep(v.Elem(), depth, line)
	case reflect.Struct:
		for i := range v.NumField() {
			if l, deep := tooDeep(v.Field(i), depth, line); deep {
				return l, true
			}
		}
	case reflect.Slice:
		for i := range v.Len() {
			if l, deep := tooDeep(v.Index(i), depth, line); deep {
				return l, true
			}
		}
	}
	return 0, false
}

// ifTooDeep walks an if statement and its elseif chain, which is one
// level however long it is.
func ifTooDeep(n *ast.IfStmt, depth, line int) (int, bool) {
	for {
		line = n.Line()
		for _, v := range []any{n.Condition, n.Then} {
			if l, deep := tooDeep(reflect.ValueOf(v), depth, line); deep {
				return l, true
			}
		}
		next, ok := elseIf(n)
		if !ok {
			return tooDeep(reflect.ValueOf(n.Else), depth, line)
		}
		n = next
	}
}

// elseIf returns the if statement that is the whole else block of n: an
// elseif.
func elseIf(n *ast.IfStmt) (*ast.IfStmt, bool) {
	if len(n.Else) != 1 {
		return nil, false
	}
	next, ok := n.Else[0].(*ast.IfStmt)
	return next, ok
}
