package core

import (
	"context"
	"testing"

	"github.com/chaostest/chaos/history"
)

// servingTarget talks to its last two nodes only.
type servingTarget struct{ fakeTarget }

func (servingTarget) ClientNodes(nodes []string) []string { return nodes[1:] }

// TestWorkloadDefaultsAndClientNodes: a target's workload defaults fill in
// what the user left unset, never what the user gave, and reach the
// history's header; a ClientNoder target's workers are spread over its
// serving nodes only.
func TestWorkloadDefaultsAndClientNodes(t *testing.T) {
	build := func(given Params) (*Prepared, *Registry) {
		r := NewRegistry()
		r.AddTarget(TargetInfo{Name: "fake", Workloads: []string{"noop"},
			WorkloadDefaults: Params{"noop-layout": "counter"},
			New:              func(Params) (Target, error) { return servingTarget{}, nil }})
		r.AddWorkload(WorkloadInfo{Name: "noop", Params: []Param{{Name: "noop-layout", Default: "snowflake"}},
			New: func(Params) (Workload, error) { return fakeWorkload{}, nil }})
		cfg := fakeConfig(t, &fakeRuntime{})
		cfg.Concurrency = 4
		cfg.Params = given
		p, err := Prepare(r, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return p, r
	}
	p, _ := build(nil)
	if got := p.Config.Params["noop-layout"]; got != "counter" {
		t.Fatalf("unset parameter: %q, want the target's default counter", got)
	}
	if p2, _ := build(Params{"noop-layout": "snowflake"}); p2.Config.Params["noop-layout"] != "snowflake" {
		t.Fatalf("the user's value was replaced: %q", p2.Config.Params["noop-layout"])
	}
	out, err := Execute(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	hf, err := history.ReadFile(HistoryPath(out.Dir))
	if err != nil {
		t.Fatal(err)
	}
	if hf.Header.Params["noop-layout"] != "counter" {
		t.Fatalf("header params %v", hf.Header.Params)
	}
	seen := map[string]bool{}
	for _, op := range hf.Ops {
		if !op.IsNemesis() {
			seen[op.Node] = true
		}
	}
	if seen["n1"] || !seen["n2"] || !seen["n3"] {
		t.Fatalf("workers ran on %v, want n2 and n3 only", seen)
	}
}
