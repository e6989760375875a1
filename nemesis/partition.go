package nemesis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/runtime/linkproxy"
)

// ClientsEndpoint matches every client endpoint ("c0", "c1", ...) in a
// grudge.
const ClientsEndpoint = "c*"

// PartitionValue is the value of a partition, shape or heal record: the exact
// grudge, so a checker or a reader knows who could not reach whom.
type PartitionValue struct {
	// Topology names the plan: halves, random-halves, isolate,
	// majorities-ring, bridge, one-way, clients, slow, lossy, or heal.
	Topology string `json:"topology"`
	// Groups are the components as planned (for a ring or a bridge, each
	// node's view), for reading; Cut is what was applied.
	Groups [][]string `json:"groups,omitempty"`
	// Cut lists every directed link cut by this fault: From cannot send to
	// To. "c*" stands for every client.
	Cut []core.Link `json:"cut,omitempty"`
	// Shaped lists links slowed or made lossy, with the Shape.
	Shaped []core.Link      `json:"shaped,omitempty"`
	Shape  *linkproxy.Shape `json:"shape,omitempty"`
}

// DecodePartitionValue reads a partition record's value.
func DecodePartitionValue(op *history.Op) (PartitionValue, error) {
	var v PartitionValue
	err := op.DecodeValue(&v)
	return v, err
}

// Topologies the partition nemesis knows, in the order of its default plan.
var Topologies = []string{"halves", "random-halves", "isolate", "majorities-ring", "bridge", "one-way", "clients", "slow", "lossy"}

// PartitionParams are the partition nemesis's flags.
var PartitionParams = []core.Param{
	{Name: "partition-topologies", Type: core.TypeChoice, Choices: Topologies, List: true, Default: "halves,random-halves,isolate,majorities-ring,bridge,one-way,clients",
		Usage: "comma-separated partition plans to pick from: " + strings.Join(Topologies, ", ")},
	{Name: "partition-latency", Type: core.TypeDuration, Default: "100ms", Usage: "added one-way latency of the slow plan"},
	{Name: "partition-loss", Type: core.TypeFloat, Default: "0.2", Usage: "loss probability of the lossy plan (a lost chunk waits a retransmission timeout)"},
}

// Partition faults cut network links (node to node, and clients to nodes)
// along a topology, or slow them down, and heal them all. Each fault
// replaces the previous one: the plan alternates fault, heal, fault, ...
type Partition struct {
	Topologies []string
	Latency    time.Duration
	Loss       float64

	active bool
}

var _ core.Nemesis = (*Partition)(nil)

// LinkShaper is the optional runtime ability to slow links down.
type LinkShaper interface {
	ShapeLinks(ctx context.Context, links []core.Link, s linkproxy.Shape) error
}

// NewPartition builds the partition nemesis from its params.
func NewPartition(p core.Params) (core.Nemesis, error) {
	n := &Partition{}
	for _, t := range strings.Split(p.String("partition-topologies", PartitionParams[0].Default), ",") {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		if !slices.Contains(Topologies, t) {
			return nil, fmt.Errorf("--partition-topologies: unknown plan %q (known: %s)", t, strings.Join(Topologies, ", "))
		}
		n.Topologies = append(n.Topologies, t)
	}
	if len(n.Topologies) == 0 {
		return nil, fmt.Errorf("--partition-topologies: name at least one of %s", strings.Join(Topologies, ", "))
	}
	var err error
	if n.Latency, err = p.Duration("partition-latency", 100*time.Millisecond); err != nil {
		return nil, err
	}
	if n.Loss, err = p.Float("partition-loss", 0.2); err != nil {
		return nil, err
	}
	if n.Latency < 0 || n.Loss < 0 || n.Loss >= 1 {
		return nil, fmt.Errorf("--partition-latency must not be negative and --partition-loss must be in [0, 1)")
	}
	return n, nil
}

// Name is "partition".
func (n *Partition) Name() string { return "partition" }

// Next heals what is in place, or plans a new fault on a random topology.
func (n *Partition) Next(rng *rand.Rand, nodes []string) history.Op {
	if n.active {
		n.active = false
		return healLinks()
	}
	n.active = true
	t := n.Topologies[rng.IntN(len(n.Topologies))]
	return Plan(rng, t, nodes, linkproxy.Shape{Latency: n.Latency, Loss: n.Loss})
}

// Plan computes one fault of the named topology over nodes: the grudge and
// the groups, as a history op ready to record. shape is used by slow (its
// latency) and lossy (its loss).
func Plan(rng *rand.Rand, topology string, nodes []string, shape linkproxy.Shape) history.Op {
	ns := slices.Clone(nodes)
	sort.Strings(ns)
	v := PartitionValue{Topology: topology}
	op := history.Op{F: "partition"}
	switch topology {
	case "halves", "random-halves", "one-way":
		if topology != "halves" {
			rng.Shuffle(len(ns), func(i, j int) { ns[i], ns[j] = ns[j], ns[i] })
		}
		a, b := slices.Clone(ns[:len(ns)/2]), slices.Clone(ns[len(ns)/2:])
		sort.Strings(a)
		sort.Strings(b)
		v.Groups = [][]string{a, b}
		v.Cut = between(a, b)
		if topology == "one-way" {
			// Only the first group's messages are lost: it hears the
			// other side but cannot answer.
			v.Cut = nil
			for _, x := range a {
				for _, y := range b {
					v.Cut = append(v.Cut, core.Link{From: x, To: y})
				}
			}
		} else {
			v.Cut = append(v.Cut, between(b, a)...)
		}
	case "isolate":
		x := ns[rng.IntN(len(ns))]
		rest := without(ns, x)
		v.Groups = [][]string{{x}, rest}
		v.Cut = append(between([]string{x}, rest), between(rest, []string{x})...)
		op.Node = x
	case "majorities-ring":
		rng.Shuffle(len(ns), func(i, j int) { ns[i], ns[j] = ns[j], ns[i] })
		// Each node keeps the nodes within r steps on a ring, at least a
		// majority, and no two nodes keep the same majority.
		m := len(ns)/2 + 1
		r := m / 2
		for i, x := range ns {
			view := []string{}
			for j, y := range ns {
				d := (i - j + len(ns)) % len(ns)
				if d > len(ns)-d {
					d = len(ns) - d
				}
				if d <= r {
					view = append(view, y)
				} else {
					v.Cut = append(v.Cut, core.Link{From: x, To: y})
				}
			}
			sort.Strings(view)
			v.Groups = append(v.Groups, view)
		}
	case "bridge":
		rng.Shuffle(len(ns), func(i, j int) { ns[i], ns[j] = ns[j], ns[i] })
		// Two halves that only one node, the bridge, can see both of.
		h := (len(ns) - 1) / 2
		a, bridge, b := slices.Clone(ns[:h]), ns[h], slices.Clone(ns[h+1:])
		sort.Strings(a)
		sort.Strings(b)
		v.Groups = [][]string{append(slices.Clone(a), bridge), append([]string{bridge}, b...)}
		v.Cut = append(between(a, b), between(b, a)...)
		op.Node = bridge
	case "clients":
		x := ns[rng.IntN(len(ns))]
		v.Groups = [][]string{{ClientsEndpoint}, {x}}
		v.Cut = []core.Link{{From: ClientsEndpoint, To: x}, {From: x, To: ClientsEndpoint}}
		op.Node = x
	case "slow", "lossy":
		op.F = topology
		s := linkproxy.Shape{Latency: shape.Latency}
		if topology == "lossy" {
			s = linkproxy.Shape{Loss: shape.Loss}
		}
		v.Shape = &s
		for _, x := range ns {
			for _, y := range ns {
				if x != y {
					v.Shaped = append(v.Shaped, core.Link{From: x, To: y})
				}
			}
		}
	default:
		panic(fmt.Sprintf("partition: unknown topology %q", topology))
	}
	sortLinks(v.Cut)
	op.Value = history.JSON(v)
	return op
}

// between lists every link from a node of a to a node of b.
func between(a, b []string) []core.Link {
	var out []core.Link
	for _, x := range a {
		for _, y := range b {
			if x != y {
				out = append(out, core.Link{From: x, To: y})
			}
		}
	}
	return out
}

func without(xs []string, x string) []string {
	var out []string
	for _, y := range xs {
		if y != x {
			out = append(out, y)
		}
	}
	return out
}

func sortLinks(ls []core.Link) {
	sort.Slice(ls, func(i, j int) bool {
		if ls[i].From != ls[j].From {
			return ls[i].From < ls[j].From
		}
		return ls[i].To < ls[j].To
	})
}

// Apply cuts, shapes or heals as planned.
func (n *Partition) Apply(ctx context.Context, rt core.Runtime, op history.Op) history.Op {
	v, err := DecodePartitionValue(&op)
	if err != nil {
		return failed(op, fmt.Errorf("bad partition value: %w", err))
	}
	switch op.F {
	case "partition":
		// Heal first so each fault is exactly its own grudge.
		if err := rt.Heal(ctx); err != nil {
			return indeterminate(op, err)
		}
		return outcome(op, rt.Partition(ctx, v.Cut))
	case "slow", "lossy":
		return shapeLinks(ctx, rt, op, v)
	case "heal":
		return outcome(op, rt.Heal(ctx))
	}
	return failed(op, fmt.Errorf("partition nemesis: unknown fault %q", op.F))
}

// HealOps always heals every link: the schedule may have planned a fault
// that was never applied (or a heal that never ran), so the nemesis's own
// idea of what is in place is not to be trusted, and a heal is idempotent.
func (n *Partition) HealOps(nodes []string) []history.Op {
	n.active = false
	return []history.Op{healLinks()}
}

// healLinks is the fault that heals every link, of the partition and the
// packet nemesis alike.
func healLinks() history.Op {
	return history.Op{F: "heal", Value: history.JSON(PartitionValue{Topology: "heal"})}
}

// shapeLinks applies a fault that shapes links (the partition nemesis's
// slow and lossy plans, the packet nemesis): every link healed first, so
// the fault is exactly its own, then v.Shaped shaped as v.Shape. A runtime
// without the ability, or one that says it cannot make this shape
// (core.ErrUnsupported), makes the fault fail: it certainly did not happen.
func shapeLinks(ctx context.Context, rt core.Runtime, op history.Op, v PartitionValue) history.Op {
	sh, can := rt.(LinkShaper)
	if !can || v.Shape == nil {
		return failed(op, fmt.Errorf("runtime %s cannot shape links: %w", rt.Name(), core.ErrUnsupported))
	}
	if err := rt.Heal(ctx); err != nil {
		return indeterminate(op, err)
	}
	return outcome(op, sh.ShapeLinks(ctx, v.Shaped, *v.Shape))
}
