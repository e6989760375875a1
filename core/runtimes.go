package core

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	// Provides lists what this runtime gives nodes beyond starting their
	// program with its HostFiles; a target that needs (TargetInfo.Needs)
	// what it does not provide is refused before anything starts.
	Provides []Capability
}

// A Capability is something a target's nodes need from the runtime they run
// on beyond starting their program with the HostFiles their specs list. A
// target declares what it needs (TargetInfo.Needs) and a runtime what it
// provides (RuntimeInfo.Provides), so a target that cannot run on a runtime
// is refused by Prepare before any node starts, and `chaos list` and
// `chaos matrix` say so, without either side naming the other.
type Capability string

// HostSoftware: the node runs software installed on the host, in place,
// with everything it loads at run time: a JVM with its modules, class path
// and configuration, more than a program and a list of HostFiles can carry.
// The local runtime provides it; a runtime whose nodes run in images built
// from their program and HostFiles alone (docker) does not.
const HostSoftware Capability = "host-software"

// Need is a capability a target's nodes need, and why, in words for the
// user: "each server is a JVM from the host's zookeeper package".
type Need struct {
	Capability Capability
	Why        string
}

// ErrRuntimeLacks matches (errors.Is) the error of a run refused because its
// runtime does not provide what its target needs.
var ErrRuntimeLacks = errors.New("runtime lacks what the target needs")

// LacksError is a target refused on a runtime: the need it lacks and the
// registered runtimes that provide every need of the target.
type LacksError struct {
	Target, Runtime string
	Need            Need
	// Others are the runtimes that can run the target.
	Others []string
}

func (e *LacksError) Error() string {
	fix := "no registered runtime provides it"
	if len(e.Others) > 0 {
		fix = "run it with --runtime " + strings.Join(e.Others, " or --runtime ")
	}
	return fmt.Sprintf("--runtime %s: target %s cannot run on the %s runtime: its nodes need %s (%s), which the %s runtime does not provide; %s",
		e.Runtime, e.Target, e.Runtime, e.Need.Capability, e.Need.Why, e.Runtime, fix)
}

// Is matches ErrRuntimeLacks.
func (e *LacksError) Is(target error) bool { return target == ErrRuntimeLacks }

// CanRun reports whether the named runtime provides everything target t
// needs: nil, an unknown-runtime error, or a *LacksError naming the first
// need it lacks and the runtimes that would run t.
func (r *Registry) CanRun(runtime string, t TargetInfo) error {
	rt, err := r.Runtime(runtime)
	if err != nil {
		return err
	}
	need, ok := lacks(rt, t)
	if !ok {
		return nil
	}
	e := &LacksError{Target: t.Name, Runtime: rt.Name, Need: need}
	for _, o := range r.Runtimes() {
		if _, no := lacks(o, t); !no {
			e.Others = append(e.Others, o.Name)
		}
	}
	return e
}

// lacks returns the first of t's needs that rt does not provide.
func lacks(rt RuntimeInfo, t TargetInfo) (Need, bool) {
	for _, n := range t.Needs {
		if !slices.Contains(rt.Provides, n.Capability) {
			return n, true
		}
	}
	return Need{}, false
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
