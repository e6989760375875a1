// Package kv is the key-value workload of eventually consistent stores:
// unique values written to a small key space from many clients through
// random nodes, reads from random nodes, and, once every fault is healed, a
// dump of every node's whole state. Its ops follow the register contract
// (read, write with whole numbers), so the same history is judged for
// convergence and for linearizability.
package kv

import (
	"context"
	"fmt"
	"strings"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/checkers/convergence"
	"github.com/chaostest/chaos/checkers/linearizable"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/workloads/gen"
)

// Params are the workload's flags.
var Params = []core.Param{
	{Name: "kv-keys", Type: core.TypeInt, Default: "8", Usage: "how many keys the kv workload writes and reads"},
	{Name: "kv-read-ratio", Type: core.TypeFloat, Default: "0.5", Usage: "share of kv operations that are reads"},
	{Name: "kv-checkers", Type: core.TypeChoice, Choices: []string{"convergence", "linearizable"}, List: true, Default: "convergence,linearizable", Usage: "checkers that judge a kv history: convergence, linearizable"},
}

// Register adds the workload to r.
func Register(r *core.Registry) {
	r.AddWorkload(core.WorkloadInfo{Name: "kv",
		Summary: "unique writes and reads of a few keys through random nodes; after the heal, every node's whole state",
		Params:  Params, New: New})
}

// Workload is the kv workload.
type Workload struct {
	Keys      int
	ReadRatio float64
	// CheckerNames are the checkers to run.
	CheckerNames []string
}

var _ core.Workload = (*Workload)(nil)

// New builds the workload from its params.
func New(p core.Params) (core.Workload, error) {
	keys, err := p.Int("kv-keys", 8)
	if err != nil {
		return nil, err
	}
	ratio, err := p.Float("kv-read-ratio", 0.5)
	if err != nil {
		return nil, err
	}
	if keys < 1 || keys > 100000 {
		return nil, fmt.Errorf("--kv-keys %d: must be between 1 and 100000", keys)
	}
	if ratio < 0 || ratio > 1 {
		return nil, fmt.Errorf("--kv-read-ratio %g: must be between 0 and 1", ratio)
	}
	var names []string
	for _, c := range strings.Split(p.String("kv-checkers", "convergence,linearizable"), ",") {
		switch c = strings.TrimSpace(c); c {
		case "":
		case "convergence", "linearizable":
			names = append(names, c)
		default:
			return nil, fmt.Errorf("--kv-checkers: unknown checker %q (known: convergence, linearizable)", c)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("--kv-checkers: name at least one of convergence, linearizable")
	}
	return &Workload{Keys: keys, ReadRatio: ratio, CheckerNames: names}, nil
}

// Key names key i.
func Key(i int) string { return fmt.Sprintf("k%d", i) }

// valueSpace separates the values of different workers: worker w writes
// (w+1)*valueSpace + 1, + 2, ..., so every value is unique in the run.
const valueSpace = 1_000_000_000

// Generator writes unique values and reads, each to a random key on a random
// node.
func (w *Workload) Generator(worker int) gen.Generator {
	seq := int64(0)
	return gen.Func(func(c *gen.Context) (history.Op, bool) {
		op := history.Op{Key: Key(c.Rand.IntN(w.Keys)), Node: c.Nodes[c.Rand.IntN(len(c.Nodes))]}
		if c.Rand.Float64() < w.ReadRatio {
			op.F = "read"
			return op, true
		}
		seq++
		op.F = "write"
		op.Value = history.Int(int64(worker+1)*valueSpace + seq)
		return op, true
	})
}

// Final dumps every node once the cluster is quiet.
func (w *Workload) Final(nodes []string) []history.Op {
	var ops []history.Op
	for _, n := range nodes {
		ops = append(ops, history.Op{F: "dump", Node: n})
	}
	return ops
}

// Checkers judge convergence and, on the same history, linearizability of
// every key as a register (reads and writes only: the final dumps are not
// register operations). An AP store is expected to fail the second while
// passing the first.
func (w *Workload) Checkers(h *history.Header) ([]checkers.Checker, error) {
	var cs []checkers.Checker
	for _, name := range w.CheckerNames {
		switch name {
		case "convergence":
			cs = append(cs, convergence.New())
		case "linearizable":
			cs = append(cs, OnlyOf(linearizable.New(linearizable.KV(linearizable.Register())), convergence.Fs, "read", "write"))
		}
	}
	return cs, nil
}

// Only runs inner on the history restricted to client operations named fs
// (and every nemesis record, so witnesses still name the faults).
func Only(inner checkers.Checker, fs ...string) checkers.Checker {
	return OnlyOf(inner, nil, fs...)
}

// OnlyOf is Only for a workload whose contract defines the operations
// contract: a history with any other client operation is not judged (an
// operation dropped unseen could be one the contract forbids).
func OnlyOf(inner checkers.Checker, contract []string, fs ...string) checkers.Checker {
	keep := map[string]bool{}
	for _, f := range fs {
		keep[f] = true
	}
	return only{inner: inner, keep: keep, contract: contract}
}

type only struct {
	inner    checkers.Checker
	keep     map[string]bool
	contract []string
}

func (o only) Name() string { return o.inner.Name() }

func (o only) Check(ctx context.Context, h *history.File) checkers.Result {
	// The whole history must pair: dropping the other operations could hide
	// a process that invoked twice or a completion of another operation.
	if err := history.WellFormed(h.Ops, o.contract...); err != nil {
		return checkers.Result{Valid: checkers.Unknown, Summary: "history cannot be judged", Error: err.Error()}
	}
	sub := *h
	sub.Ops = make([]history.Op, 0, len(h.Ops))
	for _, op := range h.Ops {
		if op.IsNemesis() || o.keep[op.F] {
			sub.Ops = append(sub.Ops, op)
		}
	}
	return o.inner.Check(ctx, &sub)
}
