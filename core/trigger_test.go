package core_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/chaostest/chaos/builtin"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
)

// everyFifth fires on every fifth ok completion it is offered.
type everyFifth struct {
	seen, applied int
	clockPlanned  bool
}

func (n *everyFifth) Name() string { return "every-fifth" }
func (n *everyFifth) Next(*rand.Rand, []string) history.Op {
	n.clockPlanned = true
	return history.Op{F: "clocked"}
}
func (n *everyFifth) Trigger(rng *rand.Rand, ev history.Op, nodes []string) []history.Op {
	if ev.Type != history.OK {
		return nil
	}
	n.seen++
	if n.seen%5 != 0 {
		return nil
	}
	return []history.Op{{F: "strike", Node: ev.Node, Value: history.JSON(map[string]int{"nth": n.seen})}}
}
func (n *everyFifth) Apply(_ context.Context, _ core.Runtime, op history.Op) history.Op {
	n.applied++
	op.Type = history.OK
	return op
}
func (n *everyFifth) HealOps([]string) []history.Op { return nil }

// TestTriggeredFaultsNameTheirEvent: a Triggered nemesis sees completions
// in history order, its faults are recorded with the event that fired them,
// and the clock schedule leaves it alone.
func TestTriggeredFaultsNameTheirEvent(t *testing.T) {
	reg := builtin.New()
	reg.AddTarget(core.TargetInfo{Name: "noisy", Workloads: []string{"ids"},
		New: func(core.Params) (core.Target, error) { return noisyTarget{}, nil }})
	nem := &everyFifth{}
	reg.AddNemesis(core.NemesisInfo{Name: "every-fifth", New: func(core.Params) (core.Nemesis, error) { return nem, nil }})
	cfg := core.Config{Target: "noisy", Nodes: 3, Concurrency: 4, TimeLimit: 300 * time.Millisecond, Rate: 1000,
		Seed: 3, Store: t.TempDir(), Nemeses: []string{"every-fifth"}, NemesisInterval: 10 * time.Millisecond,
		NewRuntime: func() (core.Runtime, error) { return noisyRuntime{}, nil }}
	p, err := core.Prepare(reg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	out, err := core.Execute(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	hf, err := history.ReadFile(core.HistoryPath(out.Dir))
	if err != nil {
		t.Fatal(err)
	}
	if nem.clockPlanned {
		t.Error("the clock schedule planned a Triggered nemesis")
	}
	strikes, oks := 0, 0
	for _, op := range hf.Ops {
		if !op.IsNemesis() && op.Type == history.OK && op.Time < int64(cfg.TimeLimit) {
			oks++
		}
		if !op.IsNemesis() || op.Type != history.Invoke {
			continue
		}
		ref, ok := core.TriggerOf(&op)
		if !ok {
			t.Fatalf("fault %v names no trigger", op)
		}
		ev := hf.Ops[ref.Index]
		if ev.Index != ref.Index || ev.Type != history.OK || ev.Process != ref.Process || ev.F != ref.F || ev.Time != ref.Time {
			t.Fatalf("fault %v names event %+v, which is %v", op, ref, ev)
		}
		if ev.Index >= op.Index {
			t.Fatalf("fault %v recorded before its event %v", op, ev)
		}
		var v struct{ Nth int }
		if err := op.DecodeValue(&v); err != nil || v.Nth == 0 {
			t.Fatalf("fault %v lost the nemesis's own value: %v", op, err)
		}
		strikes++
	}
	if strikes < 3 || strikes != nem.applied {
		t.Fatalf("%d strikes recorded, %d applied, over %d ok ops", strikes, nem.applied, oks)
	}
}
