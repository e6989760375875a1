// Package system runs a system described in a file: the user's own nodes,
// started from a command template, driven by a client that speaks a
// documented HTTP contract or by a client command in any language that reads
// invocations as JSON lines on stdin and writes completions on stdout.
//
//	chaos run --system mykv.toml
//
// The file (TOML) declares the nodes, the client, the workload, the nemeses
// and their parameters, so that one command runs a complete test; every flag
// given on the command line overrides the file. docs/bring-your-own.md is the
// reference for the format and for the op contracts a client implements.
//
// The package imports only core, history and workloads: a user's binary that
// registers a system file pulls none of the built-in targets.
package system

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// File is a system file as written.
type File struct {
	// Name names the system in the store and the reports (default: the
	// file's directory name).
	Name   string         `toml:"name"`
	Build  Build          `toml:"build"`
	Nodes  Nodes          `toml:"nodes"`
	Client Client         `toml:"client"`
	Run    Run            `toml:"run"`
	Params map[string]any `toml:"params"`
}

// Build is a command run once, in the file's directory, before the first
// run: typically `go build -o {bin}/mykv .`.
type Build struct {
	Command []string `toml:"command"`
}

// Nodes declares how one node runs.
type Nodes struct {
	// Command is the node's command line, with placeholders (see
	// NodePlaceholders).
	Command []string `toml:"command"`
	// Ports are the named ports each node listens on; default ["api"].
	Ports []string          `toml:"ports"`
	Env   map[string]string `toml:"env"`
	// Clock is how the node's clock moves: none, faketime or control.
	Clock string `toml:"clock"`
	// Faketime is the libfaketime library for clock = "faketime"; default:
	// the first of the usual Debian paths that exists.
	Faketime string `toml:"faketime"`
	Ready    Ready  `toml:"ready"`
}

// Ready is the readiness probe: a TCP connect or an HTTP GET answered 2xx.
type Ready struct {
	TCP  string `toml:"tcp"`  // a port name
	HTTP string `toml:"http"` // "port/path", e.g. "api/health"
}

// Client declares how operations reach the system.
type Client struct {
	// Type is http or command.
	Type string `toml:"type"`
	// Port is the node port the HTTP client calls (default: the first
	// port); Path prefixes every request (default /chaos).
	Port string `toml:"port"`
	Path string `toml:"path"`
	// Command is the client command (type command), one process per worker
	// and node, with placeholders (see ClientPlaceholders).
	Command []string          `toml:"command"`
	Env     map[string]string `toml:"env"`
}

// Run is the test the file runs by default; flags override each field.
type Run struct {
	Workload        string   `toml:"workload"`
	Nodes           int      `toml:"nodes"`
	Concurrency     int      `toml:"concurrency"`
	TimeLimit       string   `toml:"time-limit"`
	Rate            *float64 `toml:"rate"`
	Nemesis         []string `toml:"nemesis"`
	NemesisInterval string   `toml:"nemesis-interval"`
	OpTimeout       string   `toml:"op-timeout"`
	Seed            *int64   `toml:"seed"`
}

// Clock methods of a system file.
const (
	ClockNone     = "none"
	ClockFaketime = "faketime"
	ClockControl  = "control"
)

// Client types of a system file.
const (
	ClientHTTP    = "http"
	ClientCommand = "command"
)

// Error is a problem in a system file, placed at its line and field.
type Error struct {
	File  string
	Line  int // 0 when the field is missing
	Field string
	Msg   string
}

func (e *Error) Error() string {
	where := e.File
	if e.Line > 0 {
		where += ":" + strconv.Itoa(e.Line)
	}
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", where, e.Field, e.Msg)
	}
	return fmt.Sprintf("%s: %s", where, e.Msg)
}

// System is a parsed, checked system file.
type System struct {
	File
	// Path is the file as named; Dir its absolute directory.
	Path string
	Dir  string
	// Bin is the directory {bin} names, for build outputs; Build makes it
	// and Close removes it.
	Bin string

	timeLimit, nemesisInterval, opTimeout time.Duration
	params                                map[string]string
	lines                                 map[string]int
}

// Load reads and checks a system file. Every error is an *Error naming the
// file, the line and the field.
func Load(path string) (*System, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Msg: fmt.Sprintf("cannot read the system file: %v", errors.Unwrap(err))}
	}
	return Parse(path, b)
}

// Parse checks a system file's contents; path names it in errors and
// anchors relative paths.
func Parse(path string, b []byte) (*System, error) {
	s := &System{Path: path}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, &Error{File: path, Msg: err.Error()}
	}
	s.Dir = dir
	dec := toml.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s.File); err != nil {
		return nil, decodeError(path, err)
	}
	s.lines = keyLines(b)
	if err := s.check(); err != nil {
		return nil, err
	}
	return s, nil
}

func decodeError(path string, err error) error {
	var sm *toml.StrictMissingError
	if errors.As(err, &sm) && len(sm.Errors) > 0 {
		e := sm.Errors[0]
		line, _ := e.Position()
		return &Error{File: path, Line: line, Field: strings.Join(e.Key(), "."),
			Msg: "unknown field (see docs/bring-your-own.md for the format)"}
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, _ := de.Position()
		return &Error{File: path, Line: line, Field: strings.Join(de.Key(), "."),
			Msg: strings.TrimPrefix(de.Error(), "toml: ")}
	}
	return &Error{File: path, Msg: err.Error()}
}

// keyLines maps every dotted key of the document to the line it is set on,
// so a check after decoding can still point at the line.
func keyLines(b []byte) map[string]int {
	lines := map[string]int{}
	p := &unstable.Parser{}
	p.Reset(b)
	var table []string
	lineOf := func(n *unstable.Node) (line int) {
		defer func() {
			if recover() != nil {
				line = 0
			}
		}()
		return p.Shape(p.Range(n.Data)).Start.Line
	}
	keyOf := func(n *unstable.Node) ([]string, int) {
		var parts []string
		line := 0
		it := n.Key()
		for it.Next() {
			k := it.Node()
			if line == 0 {
				line = lineOf(k)
			}
			parts = append(parts, string(k.Data))
		}
		return parts, line
	}
	var inline func(prefix []string, v *unstable.Node, line int)
	inline = func(prefix []string, v *unstable.Node, line int) {
		if v.Kind != unstable.InlineTable {
			return
		}
		it := v.Children()
		for it.Next() {
			kv := it.Node()
			if kv.Kind != unstable.KeyValue {
				continue
			}
			k, l := keyOf(kv)
			if l == 0 {
				l = line
			}
			full := append(append([]string(nil), prefix...), k...)
			lines[strings.Join(full, ".")] = l
			inline(full, kv.Value(), l)
		}
	}
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			k, l := keyOf(e)
			table = k
			if _, ok := lines[strings.Join(k, ".")]; !ok {
				lines[strings.Join(k, ".")] = l
			}
		case unstable.KeyValue:
			k, l := keyOf(e)
			full := append(append([]string(nil), table...), k...)
			lines[strings.Join(full, ".")] = l
			inline(full, e.Value(), l)
		}
	}
	return lines
}

// errAt is an error at a field, placed at the field's line, or at its
// table's when the field is missing.
func (s *System) errAt(field, format string, args ...any) error {
	line := s.lines[field]
	for f := field; line == 0 && strings.Contains(f, "."); {
		f = f[:strings.LastIndex(f, ".")]
		line = s.lines[f]
	}
	return &Error{File: s.Path, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Workloads the system target can run, in the order `chaos list` shows.
var Workloads = []string{"register", "kv", "ids", "lock", "lock-set", "list-append"}

// Nemeses a system's nodes can take; clock only with a clock method.
var nemeses = []string{"partition", "kill", "pause", "client-pause"}

func (s *System) check() error {
	f := &s.File
	if f.Name == "" {
		f.Name = filepath.Base(s.Dir)
	}
	if !validName(f.Name) {
		return s.errAt("name", "%q: use letters, digits, '-' and '_' only (it names the run directory)", f.Name)
	}
	if len(f.Nodes.Ports) == 0 {
		f.Nodes.Ports = []string{"api"}
	}
	seen := map[string]bool{}
	for _, p := range f.Nodes.Ports {
		if !validName(p) || seen[p] {
			return s.errAt("nodes.ports", "port name %q is empty, repeated or not made of letters, digits, '-' and '_'", p)
		}
		seen[p] = true
	}
	if len(f.Nodes.Command) == 0 || f.Nodes.Command[0] == "" {
		return s.errAt("nodes.command", "missing: the command line that starts one node, e.g. [\"{bin}/mykv\", \"--listen\", \"{listen:api}\", \"--peers\", \"{peers:api}\"]")
	}
	for i, a := range f.Nodes.Command {
		if err := checkTemplate(a, nodeVars, f.Nodes.Ports); err != nil {
			return s.errAt("nodes.command", "argument %d %q: %v", i+1, a, err)
		}
	}
	if err := checkTemplate(f.Nodes.Command[0], buildVars, nil); err != nil {
		return s.errAt("nodes.command", "the program %q: %v", f.Nodes.Command[0], err)
	}
	for _, k := range slices.Sorted(maps.Keys(f.Nodes.Env)) {
		if err := checkTemplate(f.Nodes.Env[k], envVars, f.Nodes.Ports); err != nil {
			return s.errAt("nodes.env."+k, "%q: %v", f.Nodes.Env[k], err)
		}
	}
	for i, a := range f.Build.Command {
		if err := checkTemplate(a, buildVars, nil); err != nil {
			return s.errAt("build.command", "argument %d %q: %v", i+1, a, err)
		}
	}
	if len(f.Build.Command) == 0 {
		for field, args := range map[string][]string{"nodes.command": f.Nodes.Command, "client.command": f.Client.Command} {
			for _, a := range args {
				if strings.Contains(a, "{bin}") {
					return s.errAt(field, "%q: {bin} names the build's output directory, and there is no build.command", a)
				}
			}
		}
	}
	switch f.Nodes.Clock {
	case "":
		f.Nodes.Clock = ClockNone
	case ClockNone, ClockControl:
	case ClockFaketime:
		if f.Nodes.Faketime == "" {
			f.Nodes.Faketime = findFaketime()
		}
		if f.Nodes.Faketime == "" {
			return s.errAt("nodes.clock", "faketime: libfaketime not found in %s; install it (apt-get install libfaketime) or set nodes.faketime to its path", strings.Join(faketimePaths, ", "))
		}
	default:
		return s.errAt("nodes.clock", "%q: must be none, faketime (the node runs under libfaketime) or control (the node honours %s and PUT /clock on its control port)", f.Nodes.Clock, "CHAOS_CLOCK_OFFSET")
	}
	if f.Nodes.Clock == ClockControl && !seen["control"] {
		return s.errAt("nodes.clock", "control: the nodes need a port named \"control\" in nodes.ports, where chaos sends PUT /clock?offset=DURATION")
	}
	switch r := f.Nodes.Ready; {
	case r.TCP != "" && r.HTTP != "":
		return s.errAt("nodes.ready", "set tcp or http, not both")
	case r.TCP != "" && !seen[r.TCP]:
		return s.errAt("nodes.ready.tcp", "%q is not one of nodes.ports (%s)", r.TCP, strings.Join(f.Nodes.Ports, ", "))
	case r.HTTP != "":
		port, _, _ := strings.Cut(r.HTTP, "/")
		if !seen[port] {
			return s.errAt("nodes.ready.http", "%q: want PORT/PATH with PORT one of nodes.ports (%s), e.g. \"%s/health\"", r.HTTP, strings.Join(f.Nodes.Ports, ", "), f.Nodes.Ports[0])
		}
	case r.TCP == "":
		// Without a probe the first operations would race the start.
		return s.errAt("nodes.ready", "missing: set tcp = \"PORT\" or http = \"PORT/PATH\" so chaos knows when a node serves")
	}
	switch f.Client.Type {
	case ClientHTTP:
		if len(f.Client.Command) > 0 {
			return s.errAt("client.command", "a client of type http takes no command; set type = \"command\" to run it")
		}
		if f.Client.Port == "" {
			f.Client.Port = f.Nodes.Ports[0]
		}
		if !seen[f.Client.Port] {
			return s.errAt("client.port", "%q is not one of nodes.ports (%s)", f.Client.Port, strings.Join(f.Nodes.Ports, ", "))
		}
		if f.Client.Path == "" {
			f.Client.Path = "/chaos"
		}
		if !strings.HasPrefix(f.Client.Path, "/") {
			return s.errAt("client.path", "%q: must start with /", f.Client.Path)
		}
		f.Client.Path = strings.TrimRight(f.Client.Path, "/")
	case ClientCommand:
		if len(f.Client.Command) == 0 || f.Client.Command[0] == "" {
			return s.errAt("client.command", "missing: the client command, e.g. [\"python3\", \"{dir}/client.py\"]")
		}
		if f.Client.Port == "" {
			f.Client.Port = f.Nodes.Ports[0]
		}
		if !seen[f.Client.Port] {
			return s.errAt("client.port", "%q is not one of nodes.ports (%s)", f.Client.Port, strings.Join(f.Nodes.Ports, ", "))
		}
		for i, a := range f.Client.Command {
			if err := checkTemplate(a, clientVars, f.Nodes.Ports); err != nil {
				return s.errAt("client.command", "argument %d %q: %v", i+1, a, err)
			}
		}
		for _, k := range slices.Sorted(maps.Keys(f.Client.Env)) {
			if err := checkTemplate(f.Client.Env[k], clientVars, f.Nodes.Ports); err != nil {
				return s.errAt("client.env."+k, "%q: %v", f.Client.Env[k], err)
			}
		}
	case "":
		return s.errAt("client.type", "missing: http (chaos calls POST %s/<workload>/<op> on each node) or command (a program that reads invocations on stdin)", "/chaos")
	default:
		return s.errAt("client.type", "%q: must be http or command", f.Client.Type)
	}
	r := &f.Run
	if r.Workload == "" {
		r.Workload = "register"
	}
	if !slices.Contains(Workloads, r.Workload) {
		return s.errAt("run.workload", "%q: must be one of %s", r.Workload, strings.Join(Workloads, ", "))
	}
	if r.Nodes < 0 || r.Nodes > 1000 {
		return s.errAt("run.nodes", "%d: must be between 1 and 1000", r.Nodes)
	}
	if r.Concurrency < 0 || r.Concurrency > 10000 {
		return s.errAt("run.concurrency", "%d: must be between 1 and 10000", r.Concurrency)
	}
	if r.Rate != nil && *r.Rate < 0 {
		return s.errAt("run.rate", "%g: must be zero (unlimited) or positive", *r.Rate)
	}
	var err error
	if s.timeLimit, err = s.duration("run.time-limit", r.TimeLimit); err != nil {
		return err
	}
	if s.nemesisInterval, err = s.duration("run.nemesis-interval", r.NemesisInterval); err != nil {
		return err
	}
	if s.opTimeout, err = s.duration("run.op-timeout", r.OpTimeout); err != nil {
		return err
	}
	for _, n := range r.Nemesis {
		if n == "none" {
			continue
		}
		if !slices.Contains(s.Nemeses(), n) {
			if n == "clock" {
				return s.clockRefusal("run.nemesis")
			}
			return s.errAt("run.nemesis", "%q: a system's nodes take %s", n, strings.Join(s.Nemeses(), ", "))
		}
	}
	s.params = map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(f.Params)) {
		switch v := f.Params[k].(type) {
		case string:
			s.params[k] = v
		case int64, float64, bool:
			s.params[k] = fmt.Sprint(v)
		case []any:
			var parts []string
			for _, x := range v {
				parts = append(parts, fmt.Sprint(x))
			}
			s.params[k] = strings.Join(parts, ",")
		default:
			return s.errAt("params."+k, "want a string, number, boolean or list, not %T", v)
		}
	}
	return nil
}

// clockRefusal explains why the clock nemesis cannot act on these nodes.
func (s *System) clockRefusal(field string) error {
	return s.errAt(field, "clock: nodes.clock is %q, so chaos cannot move the nodes' clocks; set nodes.clock = \"faketime\" (the node runs under libfaketime) or \"control\" (the node reads CHAOS_CLOCK_OFFSET at start and serves PUT /clock?offset=DURATION on its control port)", s.Nodes.Clock)
}

func (s *System) duration(field, v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, s.errAt(field, "%q: want a positive duration such as 500ms, 2s or 1m", v)
	}
	return d, nil
}

// Nemeses lists the fault kinds these nodes can take.
func (s *System) Nemeses() []string {
	ns := append([]string(nil), nemeses...)
	if s.Nodes.Clock != ClockNone {
		ns = append(ns, "clock")
	}
	return ns
}

// CanMoveClocks reports whether the nodes' clocks can be moved.
func (s *System) CanMoveClocks() bool { return s.Nodes.Clock != ClockNone }

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

var faketimePaths = []string{
	"/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
	"/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
	"/usr/local/lib/faketime/libfaketime.so.1",
}

func findFaketime() string {
	for _, p := range faketimePaths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}
