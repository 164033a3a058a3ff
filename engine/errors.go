package engine

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// ErrNotFound is wrapped by Conntrack lookups that find nothing and by
// engine calls naming an unknown helper.
var ErrNotFound = errors.New("not found")

// ErrorKind classifies script failures.
type ErrorKind uint8

// Kinds of script failure.
const (
	// KindRuntime is an error raised while the script ran.
	KindRuntime ErrorKind = iota
	// KindTimeout is a script stopped because it ran past its budget.
	KindTimeout
	// KindBadReturn is a callback that returned something other than a
	// verdict.
	KindBadReturn
	// KindLoad is a script that could not be instantiated.
	KindLoad
	// KindLimit is a script that passed a sandbox bound other than time:
	// its per-connection state grew over the bound.
	KindLimit
	// KindAbandoned is a call whose Go code did not return long after
	// the budget: its worker was abandoned and replaced.
	KindAbandoned
)

var kindNames = [...]string{"runtime error", "timeout", "bad return value", "load error", "limit exceeded", "abandoned"}

func (k ErrorKind) String() string { return kindNames[k] }

// A ScriptError is a failure of a helper script while handling a packet.
type ScriptError struct {
	Helper string
	Kind   ErrorKind
	// File and Line locate the failure in the script, when known.
	File string
	Line int
	// Msg is the message without the location.
	Msg string
	// Traceback is the Lua stack trace, when available.
	Traceback string
}

func (e *ScriptError) Error() string {
	return fmt.Sprintf("helper %s: %s: %s: %s", e.Helper, e.Location(), e.Kind, e.Msg)
}

// Location returns "file:line", or the file alone when the line is unknown.
func (e *ScriptError) Location() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	return e.File
}

// A DeclError is a problem in a helper's declaration or script text, found
// when the script loads.
type DeclError struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *DeclError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// locRE matches the "file:line: " prefix gopher-lua puts on runtime errors.
var locRE = regexp.MustCompile(`^(.+?):(\d+): `)

// syntaxRE matches gopher-lua's parse errors: "name line:12(column:3) near ..."
var syntaxRE = regexp.MustCompile(`line:(\d+)\(column:\d+\)`)

// splitLocation splits "file:line: msg" into its parts.
func splitLocation(msg string) (file string, line int, rest string) {
	if m := locRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[2])
		return m[1], line, msg[len(m[0]):]
	}
	return "", 0, msg
}

// scriptError converts an error from a protected Lua call.
func scriptError(helper, file string, kind ErrorKind, err error) *ScriptError {
	se := &ScriptError{Helper: helper, Kind: kind, File: file, Msg: err.Error()}
	var ae *lua.ApiError
	if errors.As(err, &ae) {
		se.Msg = ae.Object.String()
		se.Traceback = ae.StackTrace
	}
	if f, l, rest := splitLocation(se.Msg); l > 0 {
		se.File, se.Line, se.Msg = f, l, rest
	}
	if se.Line == 0 {
		se.Line = lineInTraceback(se.Traceback, file)
	}
	se.Msg = truncate(se.Msg)
	se.Traceback = truncate(se.Traceback)
	return se
}

// lineInTraceback returns the innermost line of file in a Lua traceback,
// for errors raised without a location (a Lua stack overflow).
func lineInTraceback(tb, file string) int {
	for _, l := range strings.Split(tb, "\n") {
		l = strings.TrimSpace(l)
		if rest, ok := strings.CutPrefix(l, file+":"); ok {
			if n, err := strconv.Atoi(rest[:max(strings.IndexByte(rest, ':'), 0)]); err == nil {
				return n
			}
		}
	}
	return 0
}

// MaxMessageLen bounds the script-provided text kept in an error: a
// script can raise an error of any size, and it is logged per packet.
const MaxMessageLen = 512

// truncate shortens s to MaxMessageLen bytes, saying so.
func truncate(s string) string {
	if len(s) <= MaxMessageLen {
		return s
	}
	return fmt.Sprintf("%s... (%d bytes more)", s[:MaxMessageLen], len(s)-MaxMessageLen)
}

// syntaxError converts a gopher-lua parse or compile error into a DeclError.
func syntaxError(file string, err error) *DeclError {
	msg := err.Error()
	de := &DeclError{File: file, Msg: msg}
	if m := syntaxRE.FindStringSubmatch(msg); m != nil {
		de.Line, _ = strconv.Atoi(m[1])
		if i := strings.Index(msg, "near"); i >= 0 {
			de.Msg = "syntax error " + msg[i:]
		}
	} else if f, l, rest := splitLocation(msg); l > 0 {
		de.File, de.Line, de.Msg = f, l, rest
	}
	return de
}
