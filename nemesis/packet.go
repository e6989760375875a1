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

// PacketTargets are the node sets the packet nemesis can degrade: the links
// into and out of every node, one node, a minority or a majority.
var PacketTargets = []string{"all", "one", "minority", "majority"}

// PacketParams are the packet nemesis's flags (Jepsen's packet nemesis,
// after tc netem's behaviours).
var PacketParams = []core.Param{
	{Name: "packet-delay", Type: core.TypeDuration, Default: "100ms", Usage: "packet nemesis: added one-way delay of each packet"},
	{Name: "packet-jitter", Type: core.TypeDuration, Default: "0s", Usage: "packet nemesis: up to this much more delay, at random (reorders packets)"},
	{Name: "packet-loss", Type: core.TypeFloat, Default: "0", Usage: "packet nemesis: share of packets dropped, in [0, 1)"},
	{Name: "packet-duplicate", Type: core.TypeFloat, Default: "0", Usage: "packet nemesis: share of packets sent twice (no runtime of this build makes it)"},
	{Name: "packet-reorder", Type: core.TypeFloat, Default: "0", Usage: "packet nemesis: share of packets sent at once, ahead of delayed ones (docker runtime)"},
	{Name: "packet-corrupt", Type: core.TypeFloat, Default: "0", Usage: "packet nemesis: share of packets with a flipped bit (no runtime of this build makes it)"},
	{Name: "packet-rate", Type: core.TypeInt, Default: "0", Usage: "packet nemesis: bytes per second per link, 0 for no limit"},
	{Name: "packet-targets", Default: "all,one,majority", Usage: "packet nemesis: comma-separated node sets whose links are degraded, picked at random per fault: " + strings.Join(PacketTargets, ", ")},
}

// Packet degrades the links of the chosen nodes (both directions of every
// link to another node and to the clients) with one shape, then heals them, in turn.
// Every record holds the exact links and the shape. Its heal is the
// network-wide heal the partition nemesis records too, so checkers and
// reports read both alike.
type Packet struct {
	Shape   linkproxy.Shape
	Targets []string

	active bool
}

var _ core.Nemesis = (*Packet)(nil)

// NewPacket builds the packet nemesis from its params.
func NewPacket(p core.Params) (core.Nemesis, error) {
	n := &Packet{}
	var err error
	if n.Shape.Latency, err = p.Duration("packet-delay", 100*time.Millisecond); err != nil {
		return nil, err
	}
	if n.Shape.Jitter, err = p.Duration("packet-jitter", 0); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		dst  *float64
	}{{"packet-loss", &n.Shape.Loss}, {"packet-duplicate", &n.Shape.Duplicate},
		{"packet-reorder", &n.Shape.Reorder}, {"packet-corrupt", &n.Shape.Corrupt}} {
		if *f.dst, err = p.Float(f.name, 0); err != nil {
			return nil, err
		}
		if *f.dst < 0 || *f.dst >= 1 || *f.dst != *f.dst {
			return nil, fmt.Errorf("--%s %g: must be in [0, 1)", f.name, *f.dst)
		}
	}
	rate, err := p.Int("packet-rate", 0)
	if err != nil {
		return nil, err
	}
	n.Shape.Rate = int64(rate)
	if err := n.Shape.Validate(); err != nil {
		return nil, fmt.Errorf("packet nemesis: %w (see --packet-delay, --packet-jitter, --packet-rate)", err)
	}
	if n.Shape == (linkproxy.Shape{}) {
		return nil, fmt.Errorf("packet nemesis: every behaviour is zero; set --packet-delay, --packet-loss, --packet-rate, ...")
	}
	if n.Shape.Reorder > 0 && n.Shape.Latency == 0 && n.Shape.Jitter == 0 {
		return nil, fmt.Errorf("--packet-reorder needs a --packet-delay or --packet-jitter to reorder against")
	}
	for _, t := range strings.Split(p.String("packet-targets", PacketParams[7].Default), ",") {
		if t = strings.TrimSpace(t); t == "" {
			continue
		}
		if !slices.Contains(PacketTargets, t) {
			return nil, fmt.Errorf("--packet-targets: unknown node set %q (known: %s)", t, strings.Join(PacketTargets, ", "))
		}
		n.Targets = append(n.Targets, t)
	}
	if len(n.Targets) == 0 {
		return nil, fmt.Errorf("--packet-targets: name at least one of %s", strings.Join(PacketTargets, ", "))
	}
	return n, nil
}

// Name is "packet".
func (n *Packet) Name() string { return "packet" }

// Next heals what is in place, or degrades the links of a random node set.
func (n *Packet) Next(rng *rand.Rand, nodes []string) history.Op {
	if n.active {
		n.active = false
		return healLinks()
	}
	n.active = true
	ns := slices.Clone(nodes)
	sort.Strings(ns)
	t := n.Targets[rng.IntN(len(n.Targets))]
	k := len(ns)
	switch t {
	case "one":
		k = 1
	case "minority":
		k = max((len(ns)-1)/2, 1)
	case "majority":
		k = len(ns)/2 + 1
	}
	rng.Shuffle(len(ns), func(i, j int) { ns[i], ns[j] = ns[j], ns[i] })
	chosen := slices.Clone(ns[:k])
	sort.Strings(chosen)
	in := map[string]bool{}
	for _, x := range chosen {
		in[x] = true
	}
	s := n.Shape
	v := PartitionValue{Topology: "packet-" + t, Groups: [][]string{chosen}, Shape: &s}
	sorted := slices.Clone(nodes)
	sort.Strings(sorted)
	for _, x := range sorted {
		for _, y := range sorted {
			if x != y && (in[x] || in[y]) {
				v.Shaped = append(v.Shaped, core.Link{From: x, To: y})
			}
		}
	}
	// The clients' traffic to and from the chosen nodes too, as a
	// degraded network card would do it: the added latency shows in the
	// clients' operations.
	for _, x := range chosen {
		v.Shaped = append(v.Shaped, core.Link{From: ClientsEndpoint, To: x}, core.Link{From: x, To: ClientsEndpoint})
	}
	op := history.Op{F: "packet", Value: history.JSON(v)}
	if k == 1 {
		op.Node = chosen[0]
	}
	return op
}

// Apply degrades or heals the links as planned.
func (n *Packet) Apply(ctx context.Context, rt core.Runtime, op history.Op) history.Op {
	v, err := DecodePartitionValue(&op)
	if err != nil {
		return failed(op, fmt.Errorf("bad packet value: %w", err))
	}
	switch op.F {
	case "packet":
		return shapeLinks(ctx, rt, op, v)
	case "heal":
		return outcome(op, rt.Heal(ctx))
	}
	return failed(op, fmt.Errorf("packet nemesis: unknown fault %q", op.F))
}

// HealOps always heals every link, whatever the nemesis thinks is in place.
func (n *Packet) HealOps(nodes []string) []history.Op {
	n.active = false
	return []history.Op{healLinks()}
}
