package core

import (
	"context"
	"fmt"
	"strings"
)

// RuntimeInfo registers a runtime (`--runtime <name>`): where nodes run.
// Runtimes are registered like targets, so the command line and the test
// package need not link a runtime, and its dependencies, that a build does
// not carry.
type RuntimeInfo struct {
	Name    string
	Summary string
	New     func(ctx context.Context) (Runtime, error)
	// Nemeses returns which of a target's nemeses this runtime offers for
	// nodes like specs; nil means all of them.
	Nemeses func(nemeses []string, specs []NodeSpec) []string
	// Clean removes what crashed runs of this runtime left behind (`chaos
	// clean`); nil when the runtime leaves nothing a run's own teardown
	// does not remove.
	Clean func(ctx context.Context, opts CleanOptions) (CleanReport, error)
}

// CleanOptions say what RuntimeInfo.Clean removes.
type CleanOptions struct {
	// Force also removes the leftovers of runs whose harness is still
	// alive on this host.
	Force bool
	// Images also removes cached node images.
	Images bool
	// DryRun only reports what would be removed.
	DryRun bool
	// Run limits the cleaning to one run id ("target/timestamp").
	Run string
}

// CleanReport lists what Clean removed (or would remove) and spared.
type CleanReport struct {
	Containers []string
	Networks   []string
	Images     []string
	// Spared names runs left alone because their harness is alive.
	Spared []string
}

// AddRuntime registers a runtime.
func (r *Registry) AddRuntime(x RuntimeInfo) {
	if r.runtimes == nil {
		r.runtimes = map[string]RuntimeInfo{}
	}
	r.runtimes[x.Name] = x
}

// Runtime looks a runtime up.
func (r *Registry) Runtime(name string) (RuntimeInfo, error) {
	x, ok := r.runtimes[name]
	if !ok {
		known := strings.Join(sortedKeys(r.runtimes), ", ")
		if known == "" {
			known = "none registered"
		}
		return x, fmt.Errorf("unknown runtime %q (known: %s)", name, known)
	}
	return x, nil
}

// Runtimes lists the registered runtimes, sorted by name.
func (r *Registry) Runtimes() []RuntimeInfo { return sortedValues(r.runtimes) }

// RuntimeNames lists the registered runtimes' names, sorted.
func (r *Registry) RuntimeNames() []string { return sortedKeys(r.runtimes) }

// RuntimeNemeses returns which of target t's nemeses runtime rt offers,
// judged on the nodes t describes with its default parameters.
func RuntimeNemeses(rt RuntimeInfo, t TargetInfo) []string {
	if rt.Nemeses == nil {
		return t.Nemeses
	}
	var specs []NodeSpec
	p := Params{}
	for _, x := range t.Params {
		p[x.Name] = x.Default
	}
	if tg, err := t.New(p); err == nil {
		specs, _ = tg.Nodes([]string{"n1"}, p)
	}
	return rt.Nemeses(t.Nemeses, specs)
}
