package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/ctlua/ctlua/engine"
	"github.com/ctlua/ctlua/runtime/daemon"
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

// diagnoseConfig re-points a declaration error of `ctlua rules` or `ctlua
// run` at the configuration when the script itself is fine and the
// helper's overrides are not; other errors are returned as they are.
func diagnoseConfig(path string, cfg *daemon.Config, orig error) error {
	var de *engine.DeclError
	if path == "" || !errors.As(orig, &de) {
		return orig
	}
	text, err := os.ReadFile(path)
	if err != nil {
		return orig
	}
	e, err := engine.New(engine.Config{Workers: 1, Modules: modules()})
	if err != nil {
		return orig
	}
	defer e.Close()
	for i, hc := range cfg.Helpers {
		script := hc.Script
		if !strings.HasPrefix(script, "builtin:") && !filepath.IsAbs(script) {
			script = filepath.Join(filepath.Dir(path), script)
		}
		file, src, err := readScript(script)
		if err != nil {
			continue
		}
		if _, err := e.Check(file, src, nil); err != nil {
			continue
		}
		if _, err := e.Check(file, src, hc.Overrides()); err != nil {
			return configError(path, text, i, hc.Script, err)
		}
	}
	return orig
}
