package main

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/ctlua/ctlua/engine"
)

// explainSyntax tidies a syntax error of a script for the command line:
// gopher-lua repeats "syntax error" and ends the message with a newline,
// and it reports a missing comma at the next line, where the parser
// stumbled; when the line before does not end a table field, say so.
func explainSyntax(err error, src []byte) error {
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

var quotedName = regexp.MustCompile(`^(option|policy) "([^"]+)"`)

// configError points an error about a helper's overrides (an option or a
// policy the script does not declare) at the configuration's line that
// names it, rather than at the script.
func configError(cfgFile string, cfg []byte, index int, script string, err error) error {
	var de *engine.DeclError
	msg := err.Error()
	if errors.As(err, &de) {
		msg = de.Msg
		if de.Field != "" {
			msg = de.Field + ": " + de.Msg
		}
	}
	m := quotedName.FindStringSubmatch(msg)
	if m == nil {
		return err
	}
	line := helperKeyLine(cfg, index, m[2])
	loc := cfgFile
	if line > 0 {
		loc = fmt.Sprintf("%s:%d", cfgFile, line)
	}
	return fmt.Errorf("%s: [[helper]] %d (%s): %s", loc, index+1, script, msg)
}

// helperKeyLine returns the line of the first mention of name as a key
// or table name in the index-th [[helper]] section of a TOML file.
func helperKeyLine(cfg []byte, index int, name string) int {
	q := regexp.QuoteMeta(name)
	key := regexp.MustCompile(`^\s*(\[[^\]]*\b|"?)` + q + `("?\s*=|"?\]|\b)|[{,]\s*"?` + q + `"?\s*=`)
	section := -1
	for i, l := range bytes.Split(cfg, []byte("\n")) {
		if bytes.HasPrefix(bytes.TrimSpace(l), []byte("[[helper]]")) {
			section++
			continue
		}
		if section == index && key.Match(l) {
			return i + 1
		}
	}
	return 0
}
