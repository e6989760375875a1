package docker_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chaostest/chaos/builtin"
	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/runtime/docker"
)

// snowflake-same-machine-id in containers: every container takes machine
// id 1, so nodes issuing in the same millisecond issue the same ID; the
// control (distinct machine ids) is valid. Both on the docker runtime, on
// the scenario's seed and one other.
func TestSnowflakeSameMachineIDOnDocker(t *testing.T) {
	needDocker(t)
	reg := builtin.New(docker.Register)
	s, err := reg.Scenario("snowflake-same-machine-id")
	if err != nil {
		t.Fatal(err)
	}
	for _, seed := range []int64{0, 12} {
		for _, control := range []bool{false, true} {
			t.Run(fmt.Sprintf("seed=%d/control=%t", seed, control), func(t *testing.T) {
				cfg := s.Config(control)
				if seed != 0 {
					cfg.Seed = seed
				}
				out := runOn(t, reg, cfg, "docker", nil)
				if left := leftoversOf(t, runOf(out.Dir)); len(left) > 0 {
					t.Errorf("run left %v", left)
				}
				r := out.Results.Checkers["ids"]
				if control {
					if out.Results.Valid != checkers.Valid {
						t.Fatalf("control: %s, want valid:\n%s", out.Results.Valid, describe(out))
					}
					return
				}
				if out.Results.Valid != checkers.Invalid || r.AnomalyCounts["duplicate-id"] == 0 {
					t.Fatalf("%s %v, want duplicate-id:\n%s", out.Results.Valid, r.AnomalyCounts, describe(out))
				}
				a := r.Anomalies[0]
				if a.Kind != "duplicate-id" || len(a.Nodes) < 2 || !strings.Contains(a.Message, "machine 1") {
					t.Errorf("first witness %q (nodes %v): want a duplicate from two nodes with machine 1", a.Message, a.Nodes)
				}
			})
		}
	}
}
