package gossip_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chaostest/chaos/builtin"
	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/runtime/local"
	"github.com/chaostest/chaos/targets/gossip"
)

func TestMain(m *testing.M) {
	builtin.RunNodeIfRequested()
	os.Exit(m.Run())
}

func runGossip(t *testing.T, cfg core.Config) *core.Outcome {
	t.Helper()
	cfg.Target = "gossip"
	cfg.NewRuntime = func() (core.Runtime, error) { return local.New() }
	cfg.Store = t.TempDir()
	p, err := core.Prepare(builtin.New(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := core.Execute(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPartitionedRunConverges(t *testing.T) {
	out := runGossip(t, core.Config{Nodes: 5, Concurrency: 5, TimeLimit: 6 * time.Second, Rate: 100,
		Nemeses: []string{"partition"}, NemesisInterval: time.Second, Seed: 4,
		Params: core.Params{"gossip-quiesce-timeout": "5s"}})
	conv := out.Results.Checkers["convergence"]
	t.Logf("convergence: %s", conv.Summary)
	if conv.Valid != checkers.Valid {
		t.Fatalf("convergence %s: %s %+v", conv.Valid, conv.Error, conv.Anomalies)
	}
	lin := out.Results.Checkers["linearizable"]
	t.Logf("linearizable: %s", lin.Summary)
	if lin.Valid != checkers.Invalid || len(lin.Anomalies) == 0 {
		t.Fatalf("linearizable %s with %d witnesses: an AP store under partitions must not pass", lin.Valid, len(lin.Anomalies))
	}
	if out.Stats.Faults+out.Stats.Heals < 4 {
		t.Fatalf("only %d faults and %d heals injected", out.Stats.Faults, out.Stats.Heals)
	}
}

func TestBrokenAntiEntropyDoesNotConverge(t *testing.T) {
	out := runGossip(t, gossip.DivergenceScenario(false))
	conv := out.Results.Checkers["convergence"]
	t.Logf("convergence: %s", conv.Summary)
	if conv.Valid != checkers.Invalid || conv.AnomalyCounts["disagreement"] == 0 {
		t.Fatalf("convergence %s, anomalies %v: want disagreement", conv.Valid, conv.AnomalyCounts)
	}
	a := conv.Anomalies[0]
	if !strings.Contains(a.Message, "nodes disagree on k") || len(a.Nodes) == 0 || a.Fault == nil || a.Fault.F != "partition" {
		t.Fatalf("witness does not name key, nodes and the partition: %+v", a)
	}
	t.Logf("witness: %s", a.Message)
	if _, ok := out.Results.Checkers["linearizable"]; ok {
		t.Fatal("the scenario runs the convergence checker only")
	}
}

func TestDivergenceControlConverges(t *testing.T) {
	out := runGossip(t, gossip.DivergenceScenario(true))
	if out.Results.Valid != checkers.Valid {
		t.Fatalf("control: %s: %s", out.Results.Valid, out.Results.Checkers["convergence"].Summary)
	}
}
