package snowflake

import (
	"time"

	"github.com/chaostest/chaos/core"
)

// RollbackScenario is `chaos repro snowflake-clock-rollback`: naive
// snowflake nodes, and once a node has issued IDs for a second the
// aimed-rollback fault moves its clock back 1 s, past the timestamp of the ID
// it has just issued, into milliseconds it has already used. A naive node
// starts each millisecond's sequence at 0 again, so it issues IDs it issued
// before. The control runs monotonic nodes (never below the last timestamp
// used) under the same fault.
func RollbackScenario() core.ScenarioInfo {
	return core.ScenarioInfo{
		Name:          "snowflake-clock-rollback",
		Summary:       "snowflake in naive mode: once a node has issued IDs for 1s, its clock is rolled back 1s past the ID it just issued",
		Expect:        "invalid (exit 1): duplicate IDs, each with the node, the processes and the rollback before it",
		ControlExpect: "valid (exit 0): monotonic nodes keep the last timestamp they used through the rollback; every ID is unique",
		Config: func(control bool) core.Config {
			mode := Naive
			if control {
				mode = Monotonic
			}
			cfg := core.DefaultConfig()
			cfg.Target, cfg.Workload = "snowflake", "ids"
			cfg.Nodes, cfg.Concurrency = 3, 6
			// 600 asks a second make about 200 IDs a second per node: the
			// replayed second meets a used millisecond about one time in
			// five, so tens of duplicates, not one by luck.
			cfg.TimeLimit, cfg.Rate, cfg.Seed = 4*time.Second, 600, 7
			cfg.Nemeses = []string{"aimed-rollback"}
			cfg.Params = core.Params{"mode": string(mode), "aimed-rollback-after": "1s", "aimed-rollback-by": "1s", "aimed-rollback-count": "1"}
			return cfg
		},
	}
}

// SameMachineIDScenario is `chaos repro snowflake-same-machine-id`, meant
// for `--runtime docker`: three snowflake containers started from one image
// with one configuration, each taking its machine id from a setting that is
// the same in every container (--snowflake-machine-ids same: machine id 1
// everywhere). Nodes in monotonic mode, no fault at all: two nodes that
// issue in the same millisecond issue the same (timestamp, machine,
// sequence), so the same ID. The control gives every node its own machine
// id.
func SameMachineIDScenario() core.ScenarioInfo {
	return core.ScenarioInfo{
		Name:          "snowflake-same-machine-id",
		Summary:       "snowflake nodes (run it with --runtime docker: one image, one configuration) that all take machine id 1 from the same setting; monotonic mode, no fault",
		Expect:        "invalid (exit 1): duplicate IDs from different nodes in the same millisecond, each witness naming both nodes and machine 1",
		ControlExpect: "valid (exit 0): distinct machine ids (--snowflake-machine-ids unique), every ID unique",
		Config: func(control bool) core.Config {
			ids := "same"
			if control {
				ids = "unique"
			}
			cfg := core.DefaultConfig()
			cfg.Target, cfg.Workload = "snowflake", "ids"
			// 600 asks a second over three nodes: each node issues in
			// about one millisecond of five, so two of them meet in the
			// same millisecond (both at sequence 0) tens of times a
			// second.
			cfg.Nodes, cfg.Concurrency = 3, 6
			cfg.TimeLimit, cfg.Rate, cfg.Seed = 4*time.Second, 600, 7
			cfg.Params = core.Params{"snowflake-mode": string(Monotonic), "snowflake-machine-ids": ids}
			return cfg
		},
	}
}
