package enginetest

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ctlua/ctlua/engine"
)

// ExplainSyntax tidies a syntax error of a script for people (ctlua check,
// replay and test):
// gopher-lua repeats "syntax error" and ends the message with a newline,
// and it reports a missing comma at the next line, where the parser
// stumbled; when the line before does not end a table field, say so.
func ExplainSyntax(err error, src []byte) error {
	var de *engine.DeclError
	if !errors.As(err, &de) || !strings.HasPrefix(de.Msg, "syntax error") {
		return err
	}
	msg := strings.TrimSpace(de.Msg)
	msg = strings.TrimSpace(strings.TrimSuffix(msg, "syntax error"))
	msg = strings.TrimSuffix(msg, ":")
	lines := strings.Split(string(src), "\n")
	if de.Line >= 2 && de.Line <= len(lines) {
		prev := de.Line - 1
		for prev > 1 && strings.TrimSpace(lines[prev-1]) == "" {
			prev--
		}
		p := strings.TrimSpace(lines[prev-1])
		if i := strings.Index(p, "--"); i >= 0 {
			p = strings.TrimSpace(p[:i])
		}
		if p != "" && !strings.ContainsAny(p[len(p)-1:], ",;{([=+-*/.") && !strings.HasSuffix(p, "then") && !strings.HasSuffix(p, "do") {
			msg += fmt.Sprintf(" (is a ',' missing at the end of line %d?)", prev)
		}
	}
	out := *de
	out.Msg = msg
	return &out
}
