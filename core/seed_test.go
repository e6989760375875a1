package core_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/chaostest/chaos/builtin"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
)

// noisyRuntime accepts every fault and does nothing.
type noisyRuntime struct{}

func (noisyRuntime) Name() string                                         { return "noisy" }
func (noisyRuntime) Setup(context.Context, string, []core.NodeSpec) error { return nil }
func (noisyRuntime) Addr(from, to, port string) (string, error)           { return to + ":" + port, nil }
func (noisyRuntime) Start(context.Context, string) error                  { return nil }
func (noisyRuntime) Stop(context.Context, string) error                   { return nil }
func (noisyRuntime) Kill(context.Context, string) error                   { return nil }
func (noisyRuntime) Pause(context.Context, string) error                  { return nil }
func (noisyRuntime) Resume(context.Context, string) error                 { return nil }
func (noisyRuntime) Partition(context.Context, []core.Link) error         { return nil }
func (noisyRuntime) Heal(context.Context) error                           { return nil }
func (noisyRuntime) Teardown(context.Context) error                       { return nil }
func (noisyRuntime) SetClockOffset(context.Context, string, time.Duration) error {
	return nil
}

// noisyTarget's clients answer ok, fail or info at random from an unseeded
// source, after a random delay: outcomes and timing differ on every run, as
// they do against a real system.
type noisyTarget struct{}

// Nodes describes one process per name: the nemeses refuse a target
// without nodes to act on.
func (noisyTarget) Nodes(names []string, _ core.Params) ([]core.NodeSpec, error) {
	var specs []core.NodeSpec
	for _, n := range names {
		specs = append(specs, core.NodeSpec{Name: n, Program: "true"})
	}
	return specs, nil
}
func (noisyTarget) NewClient(context.Context, string, core.ClientConfig) (core.Client, error) {
	return noisyClient{}, nil
}

type noisyClient struct{}

var noise = struct {
	sync.Mutex
	*rand.Rand
}{Rand: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))}

func (noisyClient) Invoke(ctx context.Context, op history.Op) history.Op {
	noise.Lock()
	k, d := noise.IntN(6), time.Duration(noise.IntN(300))*time.Microsecond
	noise.Unlock()
	time.Sleep(d)
	switch k {
	case 0:
		op.Type = history.Fail
	case 1:
		op.Type = history.Info
	default:
		op.Type = history.OK
	}
	return op
}
func (noisyClient) Close() error { return nil }

type planned struct{ F, Key, Node, Value string }

// plans runs workload with seed and returns each worker's invocations and
// the clock-planned faults, as (f, key, value) and (f, node, value). A
// loaded machine may give a short run only a few operations: the run is
// played again, twice as long each time, until every worker has planned at
// least 10 operations and the nemesis 3 faults, so the comparison never
// fails on time alone.
func plans(t *testing.T, workload string, seed int64) (map[int][]planned, []planned) {
	t.Helper()
	for limit := 400 * time.Millisecond; ; limit *= 2 {
		workers, faults := plansFor(t, workload, seed, limit)
		enough := len(faults) >= 3
		for w := 0; w < 4; w++ {
			enough = enough && len(workers[w]) >= 10
		}
		if enough || limit >= 12*time.Second {
			return workers, faults
		}
		t.Logf("seed %d in %s: too few operations planned on this machine, playing it for %s", seed, limit, 2*limit)
	}
}

func plansFor(t *testing.T, workload string, seed int64, limit time.Duration) (map[int][]planned, []planned) {
	t.Helper()
	reg := builtin.New()
	reg.AddTarget(core.TargetInfo{Name: "noisy", Workloads: []string{workload},
		New: func(core.Params) (core.Target, error) { return noisyTarget{}, nil }})
	cfg := core.Config{Target: "noisy", Workload: workload, Nodes: 3, Concurrency: 4,
		TimeLimit: limit, Rate: 2000, Seed: seed, Store: t.TempDir(), CheckTimeout: 2 * time.Second,
		Nemeses: []string{"kill", "pause", "partition"}, NemesisInterval: 20 * time.Millisecond,
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
	workers := map[int][]planned{}
	var faults []planned
	for _, op := range hf.Ops {
		// The final phase (after the heal, past the time limit) hands its
		// fixed ops to whichever worker is free: not part of the plan.
		if op.Type != history.Invoke || op.Time >= int64(cfg.TimeLimit) {
			continue
		}
		if op.IsNemesis() {
			if _, trig := core.TriggerOf(&op); !trig {
				faults = append(faults, planned{F: op.F, Node: op.Node, Value: string(op.Value)})
			}
			continue
		}
		w := op.Process % cfg.Concurrency
		workers[w] = append(workers[w], planned{F: op.F, Key: op.Key, Value: string(op.Value)})
	}
	return workers, faults
}

// samePrefix reports where a and b first differ; runs of different length
// agree on the shorter one.
func samePrefix(a, b []planned) (int, bool) {
	for i := 0; i < min(len(a), len(b)); i++ {
		if a[i] != b[i] {
			return i, false
		}
	}
	return 0, true
}

// TestSeedFixesThePlan: the same seed gives every worker the same sequence
// of planned operations and the nemesis the same faults, whatever the
// outcomes and timing; another seed gives others.
func TestSeedFixesThePlan(t *testing.T) {
	for _, w := range []string{"register", "kv", "ids", "lock", "lock-set"} {
		t.Run(w, func(t *testing.T) {
			a, fa := plans(t, w, 11)
			b, fb := plans(t, w, 11)
			for worker := 0; worker < 4; worker++ {
				if len(a[worker]) < 10 || len(b[worker]) < 10 {
					t.Fatalf("worker %d planned only %d and %d ops", worker, len(a[worker]), len(b[worker]))
				}
				if i, ok := samePrefix(a[worker], b[worker]); !ok {
					t.Fatalf("worker %d: op %d differs between two runs of seed 11: %+v vs %+v", worker, i, a[worker][i], b[worker][i])
				}
			}
			if len(fa) < 3 {
				t.Fatalf("only %d faults planned", len(fa))
			}
			if i, ok := samePrefix(fa, fb); !ok {
				t.Fatalf("fault %d differs between two runs of seed 11: %+v vs %+v", i, fa[i], fb[i])
			}
			if w == "ids" || w == "lock" {
				return // no random choice in their ops
			}
			c, _ := plans(t, w, 12)
			if _, ok := samePrefix(a[0], c[0]); ok {
				t.Errorf("seeds 11 and 12 planned the same ops for worker 0: %s", js(c[0][:5]))
			}
		})
	}
}

func js(v any) string { b, _ := json.Marshal(v); return fmt.Sprint(string(b)) }
