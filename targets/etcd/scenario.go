package etcd

import (
	"time"

	"github.com/chaostest/chaos/core"
)

// LockPauseScenario is `chaos repro etcd-lock-pause`: lock-set on
// concurrency.Mutex with 2 s leases while members are paused (SIGSTOP), the
// setting of Jepsen's etcd 3.4.3 analysis. A paused member stops renewing
// its clients' leases; a holder on it keeps working past its lease, another
// client is granted the lock meanwhile, and the harness-held set loses
// updates. The control keeps the set in etcd behind a transaction guarded
// on the lock key's revision, from a client that keeps within its lease.
func LockPauseScenario() core.ScenarioInfo {
	return core.ScenarioInfo{
		Name:    "etcd-lock-pause",
		Summary: "etcd concurrency.Mutex, 2s leases, members paused: lock-set with the set held by the harness",
		Expect:  "invalid (exit 1): overlapping holds and lost updates, each with the holds, members and the pause before it",
		ControlExpect: "valid (exit 0): the set lives in etcd and is written only by a transaction guarded on the lock key's " +
			"create revision; stale writes are rejected, nothing is lost",
		Config: lockPauseConfig,
	}
}

func lockPauseConfig(control bool) core.Config {
	set := "harness"
	if control {
		set = "fenced"
	}
	return core.Config{
		Target: Name, Workload: "lock-set", Nodes: 3, Concurrency: 3,
		TimeLimit: 60 * time.Second, Rate: 0,
		Nemeses: []string{"pause"}, NemesisInterval: 3 * time.Second,
		// Seed 4 showed the first violation after 13 s when measured; over
		// seeds 1-10, 9 showed one within the 60 s (mean 38 s).
		Seed:      4,
		OpTimeout: 7 * time.Second, CheckTimeout: time.Minute,
		Params: core.Params{
			"lock-ttl":      "2s",
			"lock-hold":     "6s",
			"etcd-lock-set": set,
		},
	}
}
