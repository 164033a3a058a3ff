package engine

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/ast"
)

// A Helper is one loaded version of a helper script: its validated
// declaration and its compiled code. A Helper is immutable; a reload makes
// a new one.
type Helper struct {
	Spec Spec
	// File is the script's path, as used in error messages.
	File string
	// Hash is the SHA-256 of the script's source.
	Hash [32]byte
	// Version increases with every load of the same helper name.
	Version uint64
	// Loaded is when Load made this version the running one.
	Loaded time.Time

	proto *lua.FunctionProto
	stats *counters
	limit *rateLimiter
	// prepared holds, per worker, the instance the load built for it.
	prepared []atomic.Pointer[instance]
}

// claim takes the instance prepared for worker i, or returns nil.
func (h *Helper) claim(i int) *instance {
	if i < len(h.prepared) {
		return h.prepared[i].Swap(nil)
	}
	return nil
}

// Overrides change a helper's declared defaults from configuration.
type Overrides struct {
	// Options replaces the values of declared options. Unknown names are
	// an error.
	Options map[string]any
	// Ports replaces the default ports.
	Ports []uint16
	// DefaultVerdict replaces the declared default verdict.
	DefaultVerdict *Verdict
	// Policies changes max_expected and timeout of declared policies, by
	// name. Unknown names are an error.
	Policies map[string]Policy
}

// declFields are the fields a helper declaration may have.
var declFields = map[string]bool{
	"name": true, "l3": true, "l4": true, "ports": true, "policies": true,
	"private_size": true, "default_verdict": true, "options": true, "payload_only": true,
	"match": true, "lines": true,
	"on_packet": true, "on_reload": true,
}

// declLines maps declaration field paths ("name", "policies.2.timeout") to
// the source line where the returned table sets them, so that errors can
// point at the line.
type declLines struct {
	file  string
	lines map[string]int
	ret   int
}

func findDeclLines(file string, chunk []ast.Stmt) *declLines {
	dl := &declLines{file: file, lines: map[string]int{}}
	var tbl *ast.TableExpr
	for _, st := range chunk {
		r, ok := st.(*ast.ReturnStmt)
		if !ok || len(r.Exprs) != 1 {
			continue
		}
		dl.ret = r.Line()
		switch e := r.Exprs[0].(type) {
		case *ast.TableExpr:
			tbl = e
		case *ast.IdentExpr: // return M, with M = {...} earlier
			tbl = findLocalTable(chunk, e.Value)
		}
	}
	if tbl != nil {
		dl.walk("", tbl)
	}
	return dl
}

func findLocalTable(chunk []ast.Stmt, name string) *ast.TableExpr {
	var found *ast.TableExpr
	for _, st := range chunk {
		if l, ok := st.(*ast.LocalAssignStmt); ok {
			for i, n := range l.Names {
				if n == name && i < len(l.Exprs) {
					if t, ok := l.Exprs[i].(*ast.TableExpr); ok {
						found = t
					}
				}
			}
		}
	}
	return found
}

func (dl *declLines) walk(prefix string, t *ast.TableExpr) {
	pos := 0
	for _, f := range t.Fields {
		var key string
		switch k := f.Key.(type) {
		case nil:
			pos++
			key = fmt.Sprint(pos)
		case *ast.StringExpr:
			key = k.Value
		default:
			continue
		}
		path := prefix + key
		dl.lines[path] = f.Value.Line()
		if sub, ok := f.Value.(*ast.TableExpr); ok {
			dl.walk(path+".", sub)
		}
	}
}

// errorf records a problem with a declaration field.
func (dl *declLines) errorf(field, format string, args ...any) *DeclError {
	line, ok := dl.lines[field]
	for !ok && strings.Contains(field, ".") { // fall back to the enclosing field
		field2 := field[:strings.LastIndex(field, ".")]
		line, ok = dl.lines[field2]
		if !ok {
			field = field2
		}
	}
	if !ok {
		line = dl.ret
	}
	return &DeclError{File: dl.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// declaration reads and validates the table a script returned.
func declaration(dl *declLines, v lua.LValue, ov *Overrides) (Spec, error) {
	t, ok := v.(*lua.LTable)
	if !ok {
		return Spec{DefaultVerdict: Accept}, &DeclError{File: dl.file, Line: dl.ret,
			Msg: fmt.Sprintf("script must return the helper declaration table, returned %s", v.Type())}
	}
	d := &declParser{dl: dl, t: t, spec: Spec{DefaultVerdict: Accept}}
	t.ForEach(func(k, _ lua.LValue) {
		if s, ok := k.(lua.LString); !ok || !declFields[string(s)] {
			d.bad(k.String(), "unknown field (known: %s)", strings.Join(sortedKeys(declFields), ", "))
		}
	})
	d.name()
	d.l3()
	parseL4(&d.spec, t.RawGetString("l4"), d.bad)
	d.ports()
	d.policies()
	d.scalars()
	parseMatch(&d.spec, t.RawGetString("match"), d.bad)
	parseLines(&d.spec, t.RawGetString("lines"), d.bad)
	d.options()
	d.callbacks()
	if len(d.errs) == 0 && ov != nil {
		if err := applyOverrides(&d.spec, ov); err != nil {
			d.errs = append(d.errs, &DeclError{File: dl.file, Msg: err.Error()})
		}
	}
	return d.spec, errors.Join(d.errs...)
}

// A declParser reads the fields of a declaration table into spec,
// gathering an error per bad field (with its line) rather than stopping
// at the first.
type declParser struct {
	dl   *declLines
	t    *lua.LTable
	spec Spec
	errs []error
}

func (d *declParser) bad(field, format string, args ...any) {
	d.errs = append(d.errs, d.dl.errorf(field, format, args...))
}

func (d *declParser) name() {
	switch name := d.t.RawGetString("name").(type) {
	case lua.LString:
		if n := string(name); n == "" || len(n) > MaxNameLen {
			d.bad("name", "must be 1..%d bytes, got %d", MaxNameLen, len(n))
		} else if strings.ContainsAny(n, " \t\n\x00\"'") {
			d.bad("name", "must not contain spaces, quotes or NUL, got %q", n)
		} else {
			d.spec.Name = n
		}
	case *lua.LNilType:
		d.bad("name", "required")
	default:
		d.bad("name", "must be a string, got %s", name.Type())
	}
}

func (d *declParser) l3() {
	switch l3 := d.t.RawGetString("l3").(type) {
	case *lua.LNilType:
		d.spec.IPv4, d.spec.IPv6 = true, true
	case lua.LString:
		if err := setL3(&d.spec, string(l3)); err != nil {
			d.bad("l3", "%v", err)
		}
	case *lua.LTable:
		l3.ForEach(func(_, v lua.LValue) {
			if err := setL3(&d.spec, v.String()); err != nil {
				d.bad("l3", "%v", err)
			}
		})
		if !d.spec.IPv4 && !d.spec.IPv6 {
			d.bad("l3", "must name at least one of \"ipv4\", \"ipv6\"")
		}
	default:
		d.bad("l3", "must be \"ipv4\", \"ipv6\", \"both\" or a list, got %s", l3.Type())
	}
}

func (d *declParser) ports() {
	p := d.t.RawGetString("ports")
	if p == lua.LNil {
		return
	}
	pt, ok := p.(*lua.LTable)
	if !ok {
		d.bad("ports", "must be a list of port numbers, got %s", p.Type())
		return
	}
	for i := 1; i <= pt.Len(); i++ {
		n, ok := pt.RawGetInt(i).(lua.LNumber)
		if !ok || n < 1 || n > 65535 || n != lua.LNumber(math.Trunc(float64(n))) {
			d.bad(fmt.Sprintf("ports.%d", i), "must be a port number 1..65535, got %s", pt.RawGetInt(i).String())
			continue
		}
		d.spec.Ports = append(d.spec.Ports, uint16(n))
	}
}

func (d *declParser) policies() {
	switch pol := d.t.RawGetString("policies").(type) {
	case *lua.LTable:
		n := pol.Len()
		if n < 1 || n > MaxPolicies {
			d.bad("policies", "must list 1..%d policies, got %d", MaxPolicies, n)
		}
		seen := map[string]bool{}
		for i := 1; i <= n && i <= MaxPolicies; i++ {
			p, err := policy(d.dl, fmt.Sprintf("policies.%d", i), pol.RawGetInt(i))
			if err != nil {
				d.errs = append(d.errs, err...)
				continue
			}
			if seen[p.Name] {
				d.bad(fmt.Sprintf("policies.%d.name", i), "duplicate policy name %q", p.Name)
			}
			seen[p.Name] = true
			d.spec.Policies = append(d.spec.Policies, p)
		}
	case *lua.LNilType:
		d.bad("policies", "required: a list of {name=, max_expected=, timeout=}")
	default:
		d.bad("policies", "must be a list of policies, got %s", pol.Type())
	}
}

// scalars reads private_size, payload_only and default_verdict.
func (d *declParser) scalars() {
	switch ps := d.t.RawGetString("private_size").(type) {
	case *lua.LNilType:
	case lua.LNumber:
		if ps < 0 || ps > MaxPrivateSize || ps != lua.LNumber(math.Trunc(float64(ps))) {
			d.bad("private_size", "must be an integer 0..%d, got %s", MaxPrivateSize, ps.String())
		} else {
			d.spec.PrivateSize = int(ps)
		}
	default:
		d.bad("private_size", "must be a number, got %s", ps.Type())
	}
	switch po := d.t.RawGetString("payload_only").(type) {
	case *lua.LNilType:
	case lua.LBool:
		d.spec.PayloadOnly = bool(po)
	default:
		d.bad("payload_only", "must be a boolean, got %s", po.Type())
	}
	if dv := d.t.RawGetString("default_verdict"); dv != lua.LNil {
		v, err := ParseVerdict(dv.String())
		if err != nil {
			d.bad("default_verdict", "%v", err)
		}
		d.spec.DefaultVerdict = v
	}
}

func (d *declParser) options() {
	switch o := d.t.RawGetString("options").(type) {
	case *lua.LNilType:
	case *lua.LTable:
		d.spec.Options = map[string]any{}
		o.ForEach(func(k, v lua.LValue) {
			key, ok := k.(lua.LString)
			if !ok {
				d.bad("options", "option names must be strings, got %s", k.Type())
				return
			}
			switch v := v.(type) {
			case lua.LBool:
				d.spec.Options[string(key)] = bool(v)
			case lua.LNumber:
				d.spec.Options[string(key)] = float64(v)
			case lua.LString:
				d.spec.Options[string(key)] = string(v)
			default:
				d.bad("options."+string(key), "must be a boolean, number or string, got %s", v.Type())
			}
		})
	default:
		d.bad("options", "must be a table of option defaults, got %s", o.Type())
	}
}

func (d *declParser) callbacks() {
	if _, ok := d.t.RawGetString("on_packet").(*lua.LFunction); !ok {
		d.bad("on_packet", "required: function(pkt, conn) returning \"accept\", \"drop\" or nil")
	}
	if r := d.t.RawGetString("on_reload"); r != lua.LNil {
		if _, ok := r.(*lua.LFunction); !ok {
			d.bad("on_reload", "must be a function(old_state), got %s", r.Type())
		}
	}
}

func setL3(spec *Spec, s string) error {
	switch s {
	case "ipv4":
		spec.IPv4 = true
	case "ipv6":
		spec.IPv6 = true
	case "both":
		spec.IPv4, spec.IPv6 = true, true
	default:
		return fmt.Errorf("must be \"ipv4\", \"ipv6\" or \"both\", got %q", s)
	}
	return nil
}

var policyFields = map[string]bool{"name": true, "max_expected": true, "timeout": true}

func policy(dl *declLines, path string, v lua.LValue) (Policy, []error) {
	var p Policy
	t, ok := v.(*lua.LTable)
	if !ok {
		return p, []error{dl.errorf(path, "must be a table {name=, max_expected=, timeout=}, got %s", v.Type())}
	}
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, dl.errorf(path+"."+field, format, args...))
	}
	t.ForEach(func(k, _ lua.LValue) {
		if s, ok := k.(lua.LString); !ok || !policyFields[string(s)] {
			bad(k.String(), "unknown field (known: max_expected, name, timeout)")
		}
	})
	if n, ok := t.RawGetString("name").(lua.LString); !ok || len(n) == 0 || len(n) > MaxNameLen {
		bad("name", "required: a string of 1..%d bytes", MaxNameLen)
	} else {
		p.Name = string(n)
	}
	if m, ok := t.RawGetString("max_expected").(lua.LNumber); !ok || m < 1 || m > MaxExpected || m != lua.LNumber(math.Trunc(float64(m))) {
		bad("max_expected", "required: an integer 1..%d, got %s", MaxExpected, t.RawGetString("max_expected").String())
	} else {
		p.MaxExpected = uint32(m)
	}
	if s, ok := t.RawGetString("timeout").(lua.LNumber); !ok || s < 1 || s > math.MaxUint32 || s != lua.LNumber(math.Trunc(float64(s))) {
		bad("timeout", "required: whole seconds >= 1, got %s", t.RawGetString("timeout").String())
	} else {
		p.Timeout = time.Duration(s) * time.Second
	}
	return p, errs
}

func applyOverrides(spec *Spec, ov *Overrides) error {
	for k, v := range ov.Options {
		def, ok := spec.Options[k]
		if !ok {
			return fmt.Errorf("option %q: helper %s declares no such option (declared: %s)", k, spec.Name, strings.Join(sortedKeys(spec.Options), ", "))
		}
		if fmt.Sprintf("%T", def) != fmt.Sprintf("%T", v) {
			return fmt.Errorf("option %q: must be a %T like its default, got %T", k, def, v)
		}
		spec.Options[k] = v
	}
	if ov.Ports != nil {
		spec.Ports = ov.Ports
	}
	if ov.DefaultVerdict != nil {
		spec.DefaultVerdict = *ov.DefaultVerdict
	}
	for name, p := range ov.Policies {
		i, ok := spec.PolicyIndex(name)
		if !ok {
			return fmt.Errorf("policy %q: helper %s declares no such policy", name, spec.Name)
		}
		if p.MaxExpected > 0 {
			if p.MaxExpected > MaxExpected {
				return fmt.Errorf("policy %q: max_expected must be 1..%d, got %d", name, MaxExpected, p.MaxExpected)
			}
			spec.Policies[i].MaxExpected = p.MaxExpected
		}
		if p.Timeout > 0 {
			spec.Policies[i].Timeout = p.Timeout.Round(time.Second)
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	k := make([]string, 0, len(m))
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}

func hashSource(src []byte) [32]byte { return sha256.Sum256(src) }
