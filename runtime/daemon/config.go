package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/ctlua/ctlua/engine"
)

// A Config is the daemon's configuration file.
type Config struct {
	Daemon  DaemonConfig   `toml:"daemon"`
	Helpers []HelperConfig `toml:"helper"`
	// HA, when set, makes the daemon a node of an HA pair (ha.go).
	HA *HAConfig `toml:"ha"`

	file string
}

// DaemonConfig holds the settings that apply to every helper.
type DaemonConfig struct {
	// Workers is the number of Lua states; 0 means one per CPU.
	Workers int `toml:"workers"`
	// Budget bounds one callback, e.g. "50ms".
	Budget Duration `toml:"budget"`
	// OnExit is what happens to the kernel helpers when the daemon stops:
	// "delete" (default), "disable" or "keep".
	OnExit string `toml:"on_exit"`
	// Watch reloads scripts when their files change (default true).
	Watch *bool `toml:"watch"`
	// LogLevel is "debug", "info" (default), "warn" or "error".
	LogLevel string `toml:"log_level"`
	// User is the user the daemon switches to once its helpers are
	// registered, keeping only CAP_NET_ADMIN; "" keeps the starting user.
	User string `toml:"user"`
	// Rules is what the daemon does with the nftables rules that attach
	// the helpers: "install" (its own table, removed on exit), "print"
	// (logged at start) or "none" (default: the admin loads `ctlua rules`).
	Rules string `toml:"rules"`
	// LogFormat is "text" (default) or "json" (config_observe.go).
	LogFormat string `toml:"log_format"`
	// Metrics is the address of the Prometheus listener; empty is off.
	Metrics string `toml:"metrics"`
	// Socket is the control socket's path; nil means DefaultSocket,
	// "" none.
	Socket *string `toml:"socket"`
	// SocketGroup, when set, opens the control socket to a group (0660).
	SocketGroup string `toml:"socket_group"`
}

// HelperConfig runs one helper script on one queue.
type HelperConfig struct {
	// Script is a path (relative to the config file) or "builtin:NAME"
	// for a shipped helper.
	Script string `toml:"script"`
	// Queue is the NFQUEUE number.
	Queue *uint16 `toml:"queue"`
	// L3 restricts the families the helper is registered for.
	L3 []string `toml:"l3"`
	// Ports replaces the script's default ports (rules, replay).
	Ports []uint16 `toml:"ports"`
	// FailOpen accepts packets when the queue is full (default true).
	FailOpen *bool `toml:"fail_open"`
	// QueueLen bounds the kernel queue; 0 means the kernel default.
	QueueLen uint32 `toml:"queue_len"`
	// DefaultVerdict replaces the script's.
	DefaultVerdict string `toml:"default_verdict"`
	// Options override the script's declared options.
	Options map[string]any `toml:"options"`
	// Policies override max_expected and timeout of declared policies.
	Policies map[string]PolicyConfig `toml:"policies"`
}

// PolicyConfig overrides one expectation policy.
type PolicyConfig struct {
	MaxExpected uint32   `toml:"max_expected"`
	Timeout     Duration `toml:"timeout"`
}

// Duration is a time.Duration written as "50ms" or a number of seconds.
type Duration struct{ time.Duration }

// UnmarshalTOML accepts "1m30s" strings and integer seconds.
func (d *Duration) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case string:
		x, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("duration: %w", err)
		}
		d.Duration = x
	case int64:
		d.Duration = time.Duration(v) * time.Second
	default:
		return fmt.Errorf("duration must be a string like \"50ms\" or seconds, got %T", v)
	}
	return nil
}

// A ConfigError locates a problem in the configuration file.
type ConfigError struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *ConfigError) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", loc, e.Field, e.Msg)
	}
	return fmt.Sprintf("%s: %s", loc, e.Msg)
}

// LoadConfig reads and validates a configuration file.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return ParseConfig(path, b)
}

// DefaultConfig is used when no configuration file is given: the shipped
// FTP helper on queue 0.
const DefaultConfig = `# ctlua default configuration: the shipped FTP helper on queue 0.
[[helper]]
script = "builtin:ftp"
queue = 0
`

// ParseConfig parses and validates configuration text; file names it in
// errors.
func ParseConfig(file string, b []byte) (*Config, error) {
	var c Config
	md, err := toml.NewDecoder(bytes.NewReader(b)).Decode(&c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &ConfigError{File: file, Line: pe.Position.Line, Msg: pe.Message}
		}
		msg, line := err.Error(), 0
		if m := tomlLineRE.FindStringSubmatch(msg); m != nil { // type errors
			fmt.Sscan(m[1], &line)
			msg = strings.TrimSpace(msg[len(m[0]):])
		}
		return nil, &ConfigError{File: file, Line: line, Msg: strings.TrimPrefix(msg, ": ")}
	}
	c.file = file
	var errs []error
	for _, k := range md.Undecoded() {
		if len(k) >= 3 && k[0] == "helper" && (k[1] == "options" || k[1] == "policies") {
			continue // free-form tables, checked against the script
		}
		errs = append(errs, &ConfigError{File: file, Line: keyLine(b, k[len(k)-1]), Field: k.String(), Msg: "unknown field"})
	}
	bad := func(field, format string, args ...any) {
		key := field[strings.LastIndex(field, ".")+1:]
		errs = append(errs, &ConfigError{File: file, Line: keyLine(b, key), Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	c.checkHA(bad) // before on_exit: [ha] makes "keep" the default
	oneOf(bad, "daemon.on_exit", &c.Daemon.OnExit, "delete", "delete", "disable", "keep")
	switch c.Daemon.LogLevel {
	case "", "debug", "info", "warn", "error":
	default:
		bad("daemon.log_level", "must be debug, info, warn or error, got %q", c.Daemon.LogLevel)
	}
	if c.Daemon.Workers < 0 {
		bad("daemon.workers", "must be >= 0")
	}
	if err := engine.CheckBudget(c.Daemon.Budget.Duration); err != nil {
		bad("daemon.budget", "%v", err)
	}
	if len(c.Helpers) == 0 {
		errs = append(errs, &ConfigError{File: file, Msg: "no [[helper]]: name at least one helper script"})
	}
	c.checkHelpers(bad)
	c.checkObserve(bad)
	c.checkDeploy(bad)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &c, nil
}

// checkHelpers validates the [[helper]] entries: one queue per helper,
// one helper per script.
func (c *Config) checkHelpers(bad func(field, format string, args ...any)) {
	queues := map[uint16]int{}
	scripts := map[string]int{}
	for i, h := range c.Helpers {
		f := func(name string) string { return fmt.Sprintf("helper[%d].%s", i, name) }
		if h.Script == "" {
			bad(f("script"), "required: a script path or \"builtin:NAME\"")
		} else if j, dup := scripts[h.Script]; dup {
			bad(f("script"), "%s is already run by helper[%d]: a helper serves one queue (list its ports there instead)", h.Script, j)
		} else {
			scripts[h.Script] = i
		}
		if h.Queue == nil {
			bad(f("queue"), "required: the NFQUEUE number")
		} else if j, dup := queues[*h.Queue]; dup {
			bad(f("queue"), "queue %d is already used by helper[%d]: one helper per queue", *h.Queue, j)
		} else {
			queues[*h.Queue] = i
		}
		for _, l := range h.L3 {
			if l != "ipv4" && l != "ipv6" {
				bad(f("l3"), "must list \"ipv4\" and/or \"ipv6\", got %q", l)
			}
		}
		if h.DefaultVerdict != "" {
			if _, err := engine.ParseVerdict(h.DefaultVerdict); err != nil {
				bad(f("default_verdict"), "%v", err)
			}
		}
		for name, p := range h.Policies {
			if p.MaxExpected > engine.MaxExpected {
				bad(f("policies."+name+".max_expected"), "must be 1..%d, got %d", engine.MaxExpected, p.MaxExpected)
			}
			if p.Timeout.Duration%time.Second != 0 {
				bad(f("policies."+name+".timeout"), "must be whole seconds, got %s", p.Timeout)
			}
		}
	}
}

// Overrides returns the engine overrides a helper entry asks for.
func (h *HelperConfig) Overrides() *engine.Overrides {
	ov := &engine.Overrides{Options: map[string]any{}, Ports: h.Ports}
	for k, v := range h.Options {
		if n, ok := v.(int64); ok { // TOML integers are Lua numbers
			v = float64(n)
		}
		ov.Options[k] = v
	}
	if h.DefaultVerdict != "" {
		v, _ := engine.ParseVerdict(h.DefaultVerdict)
		ov.DefaultVerdict = &v
	}
	if len(h.Policies) > 0 {
		ov.Policies = map[string]engine.Policy{}
		for name, p := range h.Policies {
			ov.Policies[name] = engine.Policy{Name: name, MaxExpected: p.MaxExpected, Timeout: p.Timeout.Duration}
		}
	}
	return ov
}

var tomlLineRE = regexp.MustCompile(`^toml: line (\d+)( \(last key "[^"]*"\))?`)

// keyLine returns the first line that assigns key, for error messages.
func keyLine(b []byte, key string) int {
	re := regexp.MustCompile(`^\s*"?` + regexp.QuoteMeta(key) + `"?\s*=`)
	for i, line := range strings.Split(string(b), "\n") {
		if re.MatchString(line) {
			return i + 1
		}
	}
	return 0
}
