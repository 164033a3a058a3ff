package main

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"

	"github.com/ctlua/ctlua/engine"
)

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
