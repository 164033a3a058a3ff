package daemon

import (
	"fmt"
	"strings"
)

// checkDeploy validates and normalises the deployment settings: rules
// ("none" by default) and user (a name or uid; it is looked up when the
// daemon starts, so that `ctlua rules` works where the user is missing).
func (c *Config) checkDeploy(bad func(field, format string, args ...any)) {
	d := &c.Daemon
	oneOf(bad, "daemon.rules", &d.Rules, "none", "install", "print", "none")
	if u := d.User; u != strings.TrimSpace(u) || strings.ContainsAny(u, ":/\n") {
		bad("daemon.user", "must be a user name or uid, got %q", u)
	}
}

// oneOf sets an empty *v to def and reports a value outside allowed as
// `must be "a", "b" or "c", got "x"`.
func oneOf(bad func(field, format string, args ...any), field string, v *string, def string, allowed ...string) {
	if *v == "" {
		*v = def
	}
	for _, a := range allowed {
		if *v == a {
			return
		}
	}
	q := make([]string, len(allowed))
	for i, a := range allowed {
		q[i] = fmt.Sprintf("%q", a)
	}
	list := strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
	bad(field, "must be %s, got %q", list, *v)
}
