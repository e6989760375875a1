package etcd

import (
	"fmt"
	"time"

	"github.com/chaostest/chaos/core"
)

// LockPauseScenario is `chaos repro etcd-lock-pause`: lock-set on
// concurrency.Mutex with 2 s leases, the setting of Jepsen's etcd 3.4.3
// analysis. When an acquire completes ok the holder-pause fault stops that
// holder for twice the TTL: the client at its next pause point (after its
// read) and its links to every member, so its session's keep-alives stop
// too. The lease runs out, another client is granted the lock and writes,
// the holder wakes and writes the set it read before: overlapping holds and
// a lost update, in every run. The control keeps the set in etcd behind a
// transaction guarded on the lock key's revision, from a client that keeps
// within its lease: the stale write is rejected.
func LockPauseScenario() core.ScenarioInfo {
	return core.ScenarioInfo{
		Name:    "etcd-lock-pause",
		Summary: "etcd concurrency.Mutex, 2s leases, the holder stopped for 4s (client and keep-alives) when its acquire completes: lock-set with the set held by the harness",
		Expect:  "invalid (exit 1): overlapping holds and lost updates, each with the holds, members and the holder pause before it",
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
		TimeLimit: 8 * time.Second, Rate: 0,
		Nemeses: []string{"holder-pause"}, NemesisInterval: 3 * time.Second,
		Seed:      4,
		OpTimeout: 7 * time.Second, CheckTimeout: time.Minute,
		Params: core.Params{
			"lock-ttl":      "2s",
			"lock-hold":     "1s",
			"etcd-lock-set": set,
		},
	}
}

// SerializableStaleReadScenario is `chaos repro etcd-serializable-stale-read`:
// the register workload with serializable reads, which etcd serves from the
// member's own state. When a read on a member completes ok, the read-isolate
// fault cuts that member off from the other two, and holds the cut until a
// write of the key it was read for has been acknowledged by the majority and
// a client of the cut-off member has read the key again: that read returns
// what the member had before the write, a stale read no linearizable order
// explains, in every run. The control reads linearizably: the cut-off
// member cannot confirm its reads with a quorum, so they fail and nothing
// stale is ever returned.
func SerializableStaleReadScenario() core.ScenarioInfo {
	return core.ScenarioInfo{
		Name:    "etcd-serializable-stale-read",
		Summary: "etcd register with serializable reads; the member a client reads from is cut off until a write of that key is acknowledged by the majority and the member is read again",
		Expect:  "invalid (exit 1): not linearizable, a read on the cut-off member returns a value older than an acknowledged write, with the isolation before it",
		ControlExpect: "valid (exit 0): linearizable reads need a quorum, so the cut-off member refuses them; " +
			"every read that answers is linearizable",
		Config: serializableStaleReadConfig,
	}
}

func serializableStaleReadConfig(control bool) core.Config {
	return core.Config{
		Target: Name, Workload: "register", Nodes: 3, Concurrency: 6,
		TimeLimit: 12 * time.Second, Rate: 100, Seed: 3,
		Nemeses: []string{"read-isolate"}, NemesisInterval: 3 * time.Second,
		OpTimeout: time.Second, CheckTimeout: time.Minute,
		Params: core.Params{
			"etcd-serializable-reads": fmt.Sprint(!control),
			"read-isolate-count":      "2",
		},
	}
}

// IDsConfig is a short run of the ids workload (revision IDs: each ID the
// revision of a put) on three members under the given faults (a
// comma-separated list of kill, pause, partition, or "none"): every ID must
// be unique and larger than every ID acknowledged before it was asked for,
// on any member. ok is false for a fault this target does not take.
func IDsConfig(faults string) (core.Config, bool) {
	nemeses, ok := core.FaultNemeses(faults, core.FaultKill, core.FaultPause, core.FaultPartition)
	if !ok {
		return core.Config{}, false
	}
	return core.Config{
		Target: Name, Workload: "ids", Nodes: 3, Concurrency: 6,
		TimeLimit: 10 * time.Second, Rate: 100, Seed: 3,
		Nemeses: nemeses, NemesisInterval: time.Second,
		OpTimeout: 2 * time.Second, CheckTimeout: time.Minute,
	}, true
}
