package snowflake

import (
	"time"

	"github.com/chaostest/chaos/core"
)

// matrixDocs are the snowflake rows of `chaos matrix ids`, one per mode.
var matrixDocs = map[Mode]string{
	Naive:     "snowflake (41-bit ms, 10-bit machine, 12-bit sequence) that trusts its clock: a clock that goes back reissues milliseconds it has used, so duplicate IDs",
	Guarded:   "snowflake that refuses to issue while its clock is behind the last timestamp it used: no duplicates, unavailable during a rollback",
	Monotonic: "snowflake that never lets its timestamp go back (it runs ahead of a rolled-back clock): unique and increasing, timestamps ahead of the wall clock",
}

// MatrixRows are the snowflake rows of `chaos matrix ids`: three nodes with
// distinct machine ids, one short run per fault column. Clients reach each
// node on its own, so there is no link to cut (partition: n/a), and no
// replica to promote (failover: n/a).
func MatrixRows() []core.MatrixRow {
	var out []core.MatrixRow
	for _, m := range []Mode{Naive, Guarded, Monotonic} {
		out = append(out, core.MatrixRow{Matrix: core.MatrixIDs, Name: "snowflake-" + string(m), Doc: matrixDocs[m],
			Cell: func(fault, runtime string) (core.Config, bool) {
				cfg := core.Config{Target: "snowflake", Workload: "ids", Nodes: 3, Concurrency: 3,
					TimeLimit: 6 * time.Second, Rate: 300, NemesisInterval: time.Second, Seed: 11,
					OpTimeout: time.Second, FinalTimeout: 10 * time.Second, CheckTimeout: time.Minute,
					Params: core.Params{"snowflake-mode": string(m)}}
				switch fault {
				case core.FaultNone:
				case core.FaultKill, core.FaultPause, core.FaultClock:
					cfg.Nemeses = []string{fault}
				default:
					return cfg, false
				}
				return cfg, true
			}})
	}
	return out
}
