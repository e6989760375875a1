package refkv

import (
	"time"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/workloads/register"
)

// scenarios are the named reproductions of the broken modes; each control
// is the same seeded run against the linearizable mode.
func scenarios() []core.ScenarioInfo {
	mk := func(name, mode, summary, expect string) core.ScenarioInfo {
		return core.ScenarioInfo{Name: name, Summary: summary, Expect: expect,
			ControlExpect: "the linearizable store under the same operations: linearizable (exit 0)",
			Config: func(control bool) core.Config {
				cfg := core.DefaultConfig()
				cfg.Target, cfg.Workload = "refkv", register.Name
				cfg.Nodes, cfg.Concurrency = 3, 5
				cfg.TimeLimit, cfg.Rate, cfg.Seed = 3*time.Second, 200, 1
				m := mode
				if control {
					m = string(Linearizable)
				}
				cfg.Params = core.Params{"refkv-mode": m}
				return cfg
			}}
	}
	return []core.ScenarioInfo{
		mk("refkv-stale-read", string(Stale), "reads served from a lagging copy return a value older than a completed write",
			"not linearizable: a read returns the value before a write that had already completed (exit 1)"),
		mk("refkv-lost-write", string(LostWrite), "acknowledged writes that the store forgets",
			"not linearizable: after an acknowledged write, reads return the value before it (exit 1)"),
	}
}
