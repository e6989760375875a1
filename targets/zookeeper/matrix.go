package zookeeper

import (
	"time"

	"github.com/chaostest/chaos/core"
)

// MatrixRows are ZooKeeper's rows of `chaos matrix locks` (the lock recipe,
// without and with fencing) and `chaos matrix ids` (sequential znodes), three
// servers, one short run per fault column. The servers are JVMs from the
// host's packages, so only a runtime that provides core.HostSoftware runs
// them (the target's Needs; on docker the cells are n/a); ZooKeeper's session
// expiry runs on the leader's monotonic clock, which the harness does not
// move (clock: n/a), and an ensemble has no replica to promote by hand
// (failover: n/a: a killed leader is replaced by election under kill).
func MatrixRows() []core.MatrixRow {
	lockRow := func(name, doc, fencing string) core.MatrixRow {
		return core.MatrixRow{Matrix: core.MatrixLocks, Name: name, Doc: doc,
			Cell: func(fault, _ string) (core.Config, bool) {
				cfg := core.Config{Target: Name, Workload: "lock-set", Nodes: 3, Concurrency: 3,
					TimeLimit: 8 * time.Second, NemesisInterval: 1500 * time.Millisecond, Seed: 11,
					OpTimeout: 7 * time.Second, FinalTimeout: 15 * time.Second, CheckTimeout: time.Minute,
					Params: core.Params{"lock-ttl": "2s", "lock-hold": "200ms", "zk-session-timeout": "2s", "zk-fencing": fencing}}
				switch fault {
				case core.FaultNone:
				case core.FaultPartition, core.FaultKill:
					cfg.Nemeses = []string{fault}
				case core.FaultPause:
					// The holder and its session's pings stop for 6 s,
					// three session timeouts, right after its acquire.
					cfg.Nemeses = []string{"holder-pause"}
					cfg.TimeLimit = 10 * time.Second
					cfg.Params["holder-pause-duration"] = "6s"
					cfg.Params["holder-pause-count"] = "1"
				default:
					return cfg, false
				}
				return cfg, true
			}}
	}
	ids := core.MatrixRow{Matrix: core.MatrixIDs, Name: "zk-sequential",
		Doc: "ZooKeeper sequential znodes (the ID is the sequence number the leader appends): unique and increasing across servers; unavailable without a quorum",
		Cell: func(fault, _ string) (core.Config, bool) {
			cfg, ok := IDsConfig(fault)
			cfg.TimeLimit, cfg.Seed = 8*time.Second, 11
			return cfg, ok
		}}
	return []core.MatrixRow{
		lockRow("zk-recipe", "ZooKeeper's lock recipe (ephemeral sequential znodes, the lowest holds, each waiter watches its predecessor): a holder paused past its session timeout keeps believing it holds the lock; the sequence number is a fencing token the resource here does not check", "false"),
		lockRow("zk-recipe-fenced", "ZooKeeper's lock recipe with the znode's sequence number as fencing token, checked by the resource: a holder that outlived its session has its stale write rejected", "true"),
		ids,
	}
}
