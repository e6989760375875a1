package snowflake

import (
	"time"

	"github.com/chaostest/chaos/core"
)

// RollbackScenario is `chaos repro snowflake-clock-rollback`: naive
// snowflake nodes, and once the nodes have issued IDs for a second, each
// node's clock is moved back 100 ms, past the timestamp of the ID it has just
// issued, into milliseconds it has already used, and moved back to that same
// moment again each time it has run 100 ms further, for 2 s. A naive node
// starts each millisecond's sequence at 0 again, so it issues IDs it issued
// before wherever it meets a millisecond it used. The control runs
// monotonic nodes (never below the last timestamp used) under the same
// fault.
func RollbackScenario() core.ScenarioInfo {
	return core.ScenarioInfo{
		Name:          "snowflake-clock-rollback",
		Summary:       "snowflake in naive mode: once the nodes have issued IDs for 1s, each node's clock is rolled back 100ms past the ID it just issued, and again to that moment every 100ms it runs, for 2s",
		Expect:        "invalid (exit 1): duplicate IDs, each with the node, the processes and the rollback before it",
		ControlExpect: "valid (exit 0): monotonic nodes keep the last timestamp they used through the rollbacks; every ID is unique",
		Config: func(control bool) core.Config {
			mode := Naive
			if control {
				mode = Monotonic
			}
			cfg := core.DefaultConfig()
			cfg.Target, cfg.Workload = "snowflake", "ids"
			cfg.Nodes, cfg.Concurrency = 3, 6
			// A replayed ID meets a used one only in the same millisecond.
			// On an idle machine 600 asks a second make about 200 IDs a
			// second per node, and one pass of 100 ms meets used
			// milliseconds several times; a starved node may issue 25 a
			// second, which one pass of 1 s met less than once on average.
			// Passing through the same 100 ms again and again, on every
			// node, fills it further with each pass, so the passes of 2 s
			// meet used milliseconds many times even then.
			cfg.TimeLimit, cfg.Rate, cfg.Seed = 4*time.Second, 600, 7
			cfg.Nemeses = []string{"aimed-rollback"}
			cfg.Params = core.Params{"mode": string(mode), "aimed-rollback-after": "1s", "aimed-rollback-by": "100ms",
				"aimed-rollback-count": "0", "aimed-rollback-replay": "2s"}
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
