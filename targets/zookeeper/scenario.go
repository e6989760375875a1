package zookeeper

import (
	"time"

	"github.com/chaostest/chaos/core"
)

// Scenarios are the target's named reproductions.
func Scenarios() []core.ScenarioInfo { return []core.ScenarioInfo{LockPauseScenario()} }

// LockPauseScenario is `chaos repro zk-lock-pause`: lock-set on ZooKeeper's
// lock recipe with 2 s sessions. When an acquire completes ok the
// holder-pause fault stops that holder for 6 s: the client at its next pause
// point (after its read) and its links to every server, so its session's
// pings stop as they would in a paused process. The servers expire the
// session about 2 s later and delete its znode; the next waiter is granted
// the lock, reads, writes and releases; the old holder wakes, still believing
// it holds the lock, and writes the set it read before: overlapping holds and
// a lost update, in every run. The control fences: the resource rejects a
// write whose token (the lock znode's sequence number) is lower than one it
// accepted, and grants say how long their session is certainly alive.
func LockPauseScenario() core.ScenarioInfo {
	return core.ScenarioInfo{
		Name:    "zk-lock-pause",
		Summary: "ZooKeeper lock recipe, 2s sessions, the holder stopped for 6s (client and session pings) when its acquire completes: lock-set with the set held by an unfenced resource",
		Expect:  "invalid (exit 1): overlapping holds and a lost update, each with the holds, servers and the holder pause before it",
		ControlExpect: "valid (exit 0): the resource rejects writes with a fencing token (the znode's sequence number) lower than " +
			"one it accepted; the stale write is rejected, nothing is lost",
		Config: lockPauseConfig,
	}
}

func lockPauseConfig(control bool) core.Config {
	fencing := "false"
	if control {
		fencing = "true"
	}
	return core.Config{
		Target: Name, Workload: "lock-set", Nodes: 3, Concurrency: 3,
		TimeLimit: 10 * time.Second, Rate: 0,
		Nemeses: []string{"holder-pause"}, NemesisInterval: 3 * time.Second,
		Seed:      4,
		OpTimeout: 9 * time.Second, CheckTimeout: time.Minute,
		Params: core.Params{
			"lock-ttl":              "2s",
			"lock-hold":             "1s",
			"zk-session-timeout":    "2s",
			"zk-fencing":            fencing,
			"holder-pause-duration": "6s",
			"holder-pause-count":    "1",
		},
	}
}

// IDsConfig is a short run of the ids workload on three servers under the
// given faults (a comma-separated list of kill, pause, partition, or "none"):
// every ID must be unique and larger than every ID acknowledged before it
// was asked for, on any server. ok is false for a fault this target does not
// take.
func IDsConfig(faults string) (core.Config, bool) {
	nemeses, ok := core.FaultNemeses(faults, core.FaultKill, core.FaultPause, core.FaultPartition)
	if !ok {
		return core.Config{}, false
	}
	return core.Config{
		Target: Name, Workload: "ids", Nodes: 3, Concurrency: 6,
		TimeLimit: 12 * time.Second, Rate: 100, Seed: 3,
		Nemeses: nemeses, NemesisInterval: time.Second,
		OpTimeout: 2 * time.Second, CheckTimeout: time.Minute,
	}, true
}
