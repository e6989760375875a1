package postgres

import (
	"time"

	"github.com/chaostest/chaos/core"
)

// matrixRows are this package's rows of `chaos matrix locks` and `chaos
// matrix ids`, the same cells on the local and the Docker runtime (each
// server's programs travel into its image as NodeSpec.HostFiles). PostgreSQL
// takes no clock fault (no libfaketime under the server): those cells are
// n/a. Only segment allocation has a failover cell: its database on a
// primary and an asynchronous standby.
func matrixRows() []core.MatrixRow {
	lockRow := func(name, doc, expiry, fencing string) core.MatrixRow {
		return core.MatrixRow{Matrix: core.MatrixLocks, Name: name, Doc: doc,
			Cell: func(fault, _ string) (core.Config, bool) {
				cfg := core.Config{Target: LockName, Workload: "lock-set", Nodes: 1, Concurrency: 3,
					TimeLimit: 6 * time.Second, NemesisInterval: 1500 * time.Millisecond, Seed: 11,
					OpTimeout: 5 * time.Second, FinalTimeout: 15 * time.Second, CheckTimeout: time.Minute,
					Params: core.Params{"lock-ttl": "2s", "lock-hold": "200ms", "lock-retry": "50ms",
						"postgres-lock-expiry": expiry, "postgres-lock-fencing": fencing}}
				switch fault {
				case core.FaultNone:
				case core.FaultPartition, core.FaultKill:
					cfg.Nemeses = []string{fault}
				case core.FaultPause:
					// The holder stops for 4 s, twice the TTL, right
					// after its acquire.
					cfg.Nemeses = []string{"holder-pause"}
					cfg.Params["holder-pause-duration"] = "4s"
				default:
					return cfg, false
				}
				return cfg, true
			}}
	}
	idRow := func(name, doc, target string, params core.Params) core.MatrixRow {
		return core.MatrixRow{Matrix: core.MatrixIDs, Name: name, Doc: doc,
			Cell: func(fault, _ string) (core.Config, bool) {
				p := core.Params{}
				for k, v := range params {
					p[k] = v
				}
				cfg := core.Config{Target: target, Workload: "ids", Nodes: 3, Concurrency: 4,
					TimeLimit: 6 * time.Second, Rate: 300, NemesisInterval: time.Second, Seed: 11,
					OpTimeout: 2 * time.Second, FinalTimeout: 10 * time.Second, CheckTimeout: time.Minute, Params: p}
				switch fault {
				case core.FaultNone:
				case core.FaultPartition, core.FaultKill, core.FaultPause:
					cfg.Nemeses = []string{fault}
				case core.FaultFailover:
					if target != SegmentName {
						return cfg, false
					}
					// The database on a primary and an asynchronous
					// standby: the scripted failover of the named
					// reproduction.
					cfg = segmentFailoverConfig(false)
					cfg.Seed = 11
				default:
					return cfg, false
				}
				return cfg, true
			}}
	}
	return []core.MatrixRow{
		lockRow("postgres-row-lock",
			"PostgreSQL lock table (insert a row under a unique key, delete it to unlock) with an expiry column: a holder paused past the expiry writes after another took the lock",
			"true", "false"),
		lockRow("postgres-row-lock-fenced",
			"the PostgreSQL lock table with expiry and a fencing token from a sequence that the resource checks: the paused holder's stale write is rejected",
			"true", "true"),
		lockRow("postgres-row-lock-no-expiry",
			"the PostgreSQL lock table without expiry: safe, but a holder that dies (or loses a release's answer) keeps the lock forever (chaos repro postgres-lock-holder-crash)",
			"false", "false"),
		idRow("postgres-autoinc",
			"auto-increment on two independent PostgreSQL primaries (offset 1 and 2, step 2; a third server here, steps 3): unique by construction, ordered per server only; a server added with the wrong offset or step duplicates (chaos repro postgres-autoinc-third-node)",
			AutoincName, core.Params{"postgres-autoinc-offsets": "1,2,3", "postgres-autoinc-steps": "3"}),
		idRow("postgres-segment",
			"segment allocation: two ID servers lease ranges of 100 from a PostgreSQL row and hand them out from memory: unique across crashes (a crash loses the rest of a range), ordered per server, not across servers",
			SegmentName, core.Params{"postgres-segment-step": "100"}),
	}
}
