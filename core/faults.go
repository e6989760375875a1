package core

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/chaostest/chaos/history"
)

// A fault that never happened must not count as one. Two mechanisms keep
// that promise: a nemesis that cannot act on the chosen nodes, or on the
// chosen runtime, is refused before anything starts (NodeChecker,
// NemesisSupporter); and every run tallies, per fault kind, how many faults
// were planned, applied, failed and left in doubt (FaultTally), so that a
// requested kind that was never applied is said out loud and does not pass
// as a valid run.

// NodeChecker is the optional Nemesis ability to refuse, before the run
// starts, nodes it cannot act on: the clock nemesis needs nodes whose clock
// can move, kill and pause need processes. The error says what would make
// the fault possible.
type NodeChecker interface {
	CheckNodes(specs []NodeSpec) error
}

// NemesisSupporter is the optional Runtime ability to say, before any node
// starts, whether it can perform a nemesis's faults on the given nodes (a
// local runtime without a link layer cannot partition). The error says what
// would make it possible.
type NemesisSupporter interface {
	SupportsNemesis(n Nemesis, specs []NodeSpec) error
}

// HealClassifier is the optional Nemesis ability to say which of its
// planned operations undo faults (a heal, the start of a killed node) or
// mark the plan (the end of a script) rather than inject a fault. Without
// it the names in HealOps are used: heal, start, resume, clock-reset,
// script-end.
type HealClassifier interface {
	IsHeal(op history.Op) bool
}

// HealOps names the operations that undo a fault rather than make one.
var HealOps = []string{"heal", "start", "resume", "clock-reset", "script-end"}

// IsHeal reports whether op, planned by n, undoes a fault rather than makes
// one. Heals are not counted as faults.
func IsHeal(n Nemesis, op history.Op) bool {
	if hc, ok := n.(HealClassifier); ok {
		return hc.IsHeal(op)
	}
	for _, f := range HealOps {
		if op.F == f {
			return true
		}
	}
	return false
}

// ErrRefused matches (errors.Is) the error of a run refused before it
// started because a requested fault cannot be performed.
var ErrRefused = errors.New("fault refused before the run")

// RefusedError is a fault kind refused before the run, with the reason and
// what would make it possible, on one line.
type RefusedError struct {
	Nemesis string
	Reason  string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("--nemesis %s refused before the run: %s", e.Nemesis, e.Reason)
}

// Is matches ErrRefused.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

// refuse wraps a capability error as a one-line refusal naming the nemesis.
func refuse(nemesis string, err error) error {
	return &RefusedError{Nemesis: nemesis, Reason: strings.Join(strings.Fields(err.Error()), " ")}
}

// checkNemeses asks every nemesis whether it can act on the target's nodes.
func checkNemeses(ns []Nemesis, specs []NodeSpec) error {
	for _, n := range ns {
		if nc, ok := n.(NodeChecker); ok {
			if err := nc.CheckNodes(specs); err != nil {
				return refuse(n.Name(), err)
			}
		}
	}
	return nil
}

// checkRuntime asks the runtime whether it can perform every nemesis.
func checkRuntime(rt Runtime, ns []Nemesis, specs []NodeSpec) error {
	rs, ok := rt.(NemesisSupporter)
	if !ok {
		return nil
	}
	for _, n := range ns {
		if err := rs.SupportsNemesis(n, specs); err != nil {
			return refuse(n.Name(), fmt.Errorf("runtime %s: %w", rt.Name(), err))
		}
	}
	return nil
}

// FaultTally counts one fault kind's faults over a run. Heals are counted
// apart: undoing a fault is not a fault.
type FaultTally struct {
	// Kind is the nemesis ("clock", "partition", ...).
	Kind string `json:"kind"`
	// Planned faults were invoked; Applied took effect (ok), Failed certainly
	// did not (fail), Unknown may have (info, or never completed).
	Planned int `json:"planned"`
	Applied int `json:"applied"`
	Failed  int `json:"failed"`
	Unknown int `json:"unknown"`
	// Heals were invoked to undo faults of this kind; HealsFailed of them
	// did not complete ok.
	Heals       int `json:"heals"`
	HealsFailed int `json:"heals_failed,omitempty"`
}

// String is "clock: 4 planned, 0 applied, 4 failed".
func (t FaultTally) String() string {
	s := fmt.Sprintf("%s: %d planned, %d applied, %d failed", t.Kind, t.Planned, t.Applied, t.Failed)
	if t.Unknown > 0 {
		s += fmt.Sprintf(", %d unknown", t.Unknown)
	}
	return s
}

// Unapplied lists the tallies of kinds of which no fault took effect.
func Unapplied(ts []FaultTally) []FaultTally {
	var out []FaultTally
	for _, t := range ts {
		if t.Applied == 0 {
			out = append(out, t)
		}
	}
	return out
}

// UnappliedWarning is the loud line of a summary for a kind never applied.
func UnappliedWarning(t FaultTally) string {
	why := "none was planned in the time limit (lower --nemesis-interval or raise --time-limit)"
	switch {
	case t.Failed > 0 && t.Unknown == 0 && t.Failed == t.Planned:
		why = fmt.Sprintf("all %d failed", t.Failed)
	case t.Planned > 0:
		why = fmt.Sprintf("%d planned: %d failed, %d of unknown outcome", t.Planned, t.Failed, t.Unknown)
	}
	return fmt.Sprintf("NO %s FAULT WAS APPLIED (%s): this run says nothing about %s faults", strings.ToUpper(t.Kind), why, t.Kind)
}

// tallies counts faults per kind as the runner applies them; it is used
// under the run's lock-free counters' owner (the nemesis goroutine and the
// heal), guarded by its own mutex in the run.
type tallies struct {
	order []string
	by    map[string]*FaultTally
}

func newTallies(ns []Nemesis) *tallies {
	t := &tallies{by: map[string]*FaultTally{}}
	for _, n := range ns {
		t.kind(n.Name())
	}
	return t
}

func (t *tallies) kind(k string) *FaultTally {
	if ft, ok := t.by[k]; ok {
		return ft
	}
	ft := &FaultTally{Kind: k}
	t.by[k] = ft
	t.order = append(t.order, k)
	return ft
}

// add counts one completed fault or heal.
func (t *tallies) add(kind string, heal bool, outcome history.Type) {
	ft := t.kind(kind)
	if heal {
		ft.Heals++
		if outcome != history.OK {
			ft.HealsFailed++
		}
		return
	}
	ft.Planned++
	switch outcome {
	case history.OK:
		ft.Applied++
	case history.Fail:
		ft.Failed++
	default:
		ft.Unknown++
	}
}

func (t *tallies) list() []FaultTally {
	out := make([]FaultTally, 0, len(t.order))
	for _, k := range t.order {
		out = append(out, *t.by[k])
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Kind < out[j].Kind })
	return out
}
