package core

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Params are named string parameters of targets, workloads and nemeses, as
// given on the command line and stored in the history header.
type Params map[string]string

// String returns the named parameter, or def when it is absent or empty.
func (p Params) String(name, def string) string {
	if v, ok := p[name]; ok && v != "" {
		return v
	}
	return def
}

// Int parses the named parameter as an integer.
func (p Params) Int(name string, def int) (int, error) {
	v, ok := p[name]
	if !ok || v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("--%s %q: not a whole number", name, v)
	}
	return n, nil
}

// Float parses the named parameter as a number.
func (p Params) Float(name string, def float64) (float64, error) {
	v, ok := p[name]
	if !ok || v == "" {
		return def, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, fmt.Errorf("--%s %q: not a number", name, v)
	}
	return f, nil
}

// Bool parses the named parameter as a boolean.
func (p Params) Bool(name string, def bool) (bool, error) {
	v, ok := p[name]
	if !ok || v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("--%s %q: not true or false", name, v)
	}
	return b, nil
}

// Duration parses the named parameter as a Go duration ("250ms", "2s").
func (p Params) Duration(name string, def time.Duration) (time.Duration, error) {
	v, ok := p[name]
	if !ok || v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("--%s %q: not a duration (examples: 500ms, 2s, 1m)", name, v)
	}
	return d, nil
}

// Choice returns the named parameter if it is one of choices.
func (p Params) Choice(name string, choices ...string) (string, error) {
	v := p.String(name, choices[0])
	for _, c := range choices {
		if v == c {
			return v, nil
		}
	}
	return "", fmt.Errorf("--%s %q: must be one of %s", name, v, strings.Join(choices, ", "))
}

// Param declares one parameter of a target, workload or nemesis; the CLI
// turns each into a typed flag, and Prepare checks every value against it.
type Param struct {
	// Name is the flag's name, scoped to its owner: "snowflake-mode",
	// "clock-bump", "lock-ttl".
	Name string
	// Type is the value's type (string when empty); Choices are the
	// values of a TypeChoice.
	Type    ParamType
	Choices []string
	// List makes the value a comma-separated list of values of Type.
	List    bool
	Default string
	Usage   string
	// Aliases are older names that still work, deprecated, for one
	// release.
	Aliases []string
}

// TargetInfo registers a target.
type TargetInfo struct {
	Name    string
	Summary string
	Params  []Param
	// Workloads this target can run; the first is the default.
	Workloads []string
	// Nemeses this target supports on the local runtime.
	Nemeses []string
	// WorkloadDefaults are values this target gives workload parameters
	// the user left unset, where the workload's own default does not fit
	// what the target serves (IDs from a sequence carry no timestamp:
	// "ids-layout": "counter"). They are recorded in the history like any
	// other parameter.
	WorkloadDefaults Params
	// Needs lists what the target's nodes need from the runtime beyond
	// their program and HostFiles (HostSoftware: a JVM from the host's
	// packages); a runtime that does not provide one is refused.
	Needs []Need
	New   func(p Params) (Target, error)
}

// WorkloadInfo registers a workload.
type WorkloadInfo struct {
	Name    string
	Summary string
	Params  []Param
	New     func(p Params) (Workload, error)
}

// NemesisInfo registers a fault kind.
type NemesisInfo struct {
	Name    string
	Summary string
	Params  []Param
	New     func(p Params) (Nemesis, error)
}

// NodeInfo registers a node program that this binary runs as
// `chaos node <name>` (our own services).
type NodeInfo struct {
	Name    string
	Summary string
	// Main runs the node until ctx ends; args are its command-line flags.
	Main func(ctx context.Context, args []string) error
}

// ScenarioInfo registers a named scenario: a fixed, seeded run that
// reproduces one anomaly (`chaos repro <name>`), and its control, the same
// run with the one ingredient removed that makes the anomaly possible
// (`chaos repro <name> --control`).
type ScenarioInfo struct {
	Name    string
	Summary string
	// Expect says what the anomaly run shows, ControlExpect what the control
	// shows, in words for `chaos list`.
	Expect        string
	ControlExpect string
	// Config returns the run's configuration. The caller sets the runtime,
	// the store and the progress output; everything else, seed included, is
	// the scenario's.
	Config func(control bool) Config
}

// Registry lists what exists: targets, workloads, nemeses, node programs and
// named scenarios. It is built explicitly (see package catalog), never
// through globals.
type Registry struct {
	targets   map[string]TargetInfo
	workloads map[string]WorkloadInfo
	nemeses   map[string]NemesisInfo
	nodes     map[string]NodeInfo
	scenarios map[string]ScenarioInfo
	runtimes  map[string]RuntimeInfo // see runtimes.go
	matrix    map[string]MatrixRow   // by matrix/name; see matrix.go
	scope     runScope               // see RunValue
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{targets: map[string]TargetInfo{}, workloads: map[string]WorkloadInfo{},
		nemeses: map[string]NemesisInfo{}, nodes: map[string]NodeInfo{}, scenarios: map[string]ScenarioInfo{}}
}

// AddScenario registers a named scenario.
func (r *Registry) AddScenario(s ScenarioInfo) { r.scenarios[s.Name] = s }

// Scenario looks a named scenario up.
func (r *Registry) Scenario(name string) (ScenarioInfo, error) {
	s, ok := r.scenarios[name]
	if !ok {
		return s, fmt.Errorf("unknown scenario %q (known: %s; see `chaos list`)", name, strings.Join(sortedKeys(r.scenarios), ", "))
	}
	return s, nil
}

// Scenarios lists the named scenarios, sorted by name.
func (r *Registry) Scenarios() []ScenarioInfo { return sortedValues(r.scenarios) }

// AddTarget registers t; a second registration of a name replaces the first.
func (r *Registry) AddTarget(t TargetInfo) { r.targets[t.Name] = t }

// AddWorkload registers w.
func (r *Registry) AddWorkload(w WorkloadInfo) { r.workloads[w.Name] = w }

// AddNemesis registers n.
func (r *Registry) AddNemesis(n NemesisInfo) { r.nemeses[n.Name] = n }

// AddNode registers a node program.
func (r *Registry) AddNode(n NodeInfo) { r.nodes[n.Name] = n }

// Target looks a target up by name.
func (r *Registry) Target(name string) (TargetInfo, error) {
	t, ok := r.targets[name]
	if !ok {
		return t, fmt.Errorf("unknown target %q (known: %s; see `chaos list`)", name, strings.Join(r.TargetNames(), ", "))
	}
	return t, nil
}

// Workload looks a workload up by name.
func (r *Registry) Workload(name string) (WorkloadInfo, error) {
	w, ok := r.workloads[name]
	if !ok {
		return w, fmt.Errorf("unknown workload %q (known: %s; see `chaos list`)", name, strings.Join(sortedKeys(r.workloads), ", "))
	}
	return w, nil
}

// Nemesis looks a fault kind up by name.
func (r *Registry) Nemesis(name string) (NemesisInfo, error) {
	n, ok := r.nemeses[name]
	if !ok {
		return n, fmt.Errorf("unknown nemesis %q (known: %s, or none; see `chaos list`)", name, strings.Join(sortedKeys(r.nemeses), ", "))
	}
	return n, nil
}

// Node looks a node program up by name.
func (r *Registry) Node(name string) (NodeInfo, error) {
	n, ok := r.nodes[name]
	if !ok {
		return n, fmt.Errorf("unknown node program %q (known: %s)", name, strings.Join(sortedKeys(r.nodes), ", "))
	}
	return n, nil
}

// TargetNames lists target names, sorted.
func (r *Registry) TargetNames() []string { return sortedKeys(r.targets) }

// Targets lists the targets, sorted by name.
func (r *Registry) Targets() []TargetInfo { return sortedValues(r.targets) }

// Workloads lists the workloads, sorted by name.
func (r *Registry) Workloads() []WorkloadInfo { return sortedValues(r.workloads) }

// Nemeses lists the fault kinds, sorted by name.
func (r *Registry) Nemeses() []NemesisInfo { return sortedValues(r.nemeses) }

// Nodes lists the node programs, sorted by name.
func (r *Registry) Nodes() []NodeInfo { return sortedValues(r.nodes) }

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func sortedValues[V any](m map[string]V) []V {
	out := make([]V, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, m[k])
	}
	return out
}
