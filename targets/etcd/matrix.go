package etcd

import (
	"time"

	"github.com/chaostest/chaos/core"
)

// MatrixRow is etcd's row of `chaos matrix locks`: concurrency.Mutex over a
// three-member cluster, lock-set with the set held by the harness (no
// fencing), one short run per fault column. etcd members take no clock
// fault (their leases are timed by the leader's monotonic clock, which the
// harness does not move) and have no replica to promote by hand: those
// cells are n/a.
func MatrixRow() core.MatrixRow {
	return core.MatrixRow{Matrix: core.MatrixLocks, Name: "etcd-mutex",
		Doc: "etcd's concurrency.Mutex (a lease-bound key, the lowest create revision holds): a holder paused past its lease keeps believing it holds the lock; the key's revision is the fencing token the harness's resource does not check",
		Cell: func(fault, runtime string) (core.Config, bool) {
			cfg := core.Config{Target: Name, Workload: "lock-set", Nodes: 3, Concurrency: 3,
				TimeLimit: 6 * time.Second, NemesisInterval: 1500 * time.Millisecond, Seed: 11,
				OpTimeout: 5 * time.Second, FinalTimeout: 15 * time.Second, CheckTimeout: time.Minute,
				Params: core.Params{"lock-ttl": "2s", "lock-hold": "200ms", "etcd-lock-set": "harness"}}
			switch fault {
			case core.FaultNone:
			case core.FaultPartition, core.FaultKill:
				cfg.Nemeses = []string{fault}
			case core.FaultPause:
				// The holder and its keep-alives stop for 4 s, twice the
				// lease, right after its acquire.
				cfg.Nemeses = []string{"holder-pause"}
				cfg.Params["holder-pause-duration"] = "4s"
			default:
				return cfg, false
			}
			return cfg, true
		}}
}

// IDsMatrixRow is etcd's row of `chaos matrix ids`: revision IDs (the
// revision of a put, the notes' second etcd scheme) on three members.
func IDsMatrixRow() core.MatrixRow {
	return core.MatrixRow{Matrix: core.MatrixIDs, Name: "etcd-revision",
		Doc: "etcd revision IDs (the store revision of a put, raft-ordered): unique and increasing across members; unavailable without a quorum",
		Cell: func(fault, runtime string) (core.Config, bool) {
			cfg, ok := IDsConfig(fault)
			cfg.TimeLimit, cfg.Seed = 6*time.Second, 11
			return cfg, ok
		}}
}
