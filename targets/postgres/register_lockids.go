package postgres

import (
	"time"

	"github.com/chaostest/chaos/core"
	idsworkload "github.com/chaostest/chaos/workloads/ids"
	"github.com/chaostest/chaos/workloads/lock"
)

// registerLocksAndIDs adds the row lock, auto-increment over independent
// primaries, segment allocation, the segment node program and their named
// reproductions to r.
func registerLocksAndIDs(r *core.Registry) {
	r.AddTarget(core.TargetInfo{Name: LockName, Params: LockParams,
		Summary:   "database row lock on PostgreSQL: insert a row to lock (unique key), delete it to unlock; with or without an expiry column, optional fencing tokens from a sequence",
		Workloads: []string{"lock-set", "lock"},
		Nemeses:   []string{"kill", "pause", "partition", "client-pause", "holder-pause", lock.HolderCrashName},
		New: func(p core.Params) (core.Target, error) {
			return NewLock(p, lock.PausesOf(r))
		}})
	r.AddTarget(core.TargetInfo{Name: AutoincName, Params: AutoincParams,
		Summary:          "auto-increment over independent PostgreSQL primaries: each server's sequence starts at its own offset and steps by the number of servers",
		Workloads:        []string{"ids"},
		Nemeses:          []string{"kill", "pause", "partition"},
		WorkloadDefaults: plainIDs,
		New:              func(p core.Params) (core.Target, error) { return NewAutoinc(p) }})
	r.AddTarget(core.TargetInfo{Name: SegmentName, Params: SegmentParams,
		Summary:          "segment allocation: ID servers lease ranges from a PostgreSQL row (UPDATE ... SET max = max + step RETURNING max) and hand them out from memory",
		Workloads:        []string{"ids"},
		Nemeses:          []string{"kill", "pause", "partition", SegmentFailoverName},
		WorkloadDefaults: plainIDs,
		New:              func(p core.Params) (core.Target, error) { return NewSegment(p) }})
	r.AddNemesis(core.NemesisInfo{Name: SegmentFailoverName,
		Summary: "postgres-segment: cut the database's primary (n1) from its standby (n2) only, kill the primary, promote the standby",
		New: func(core.Params) (core.Nemesis, error) {
			return &Failover{name: SegmentFailoverName, standbyOnly: true}, nil
		}})
	r.AddNode(core.NodeInfo{Name: SegmentNode, Summary: "segment allocation ID server: leases ranges from a PostgreSQL row", Main: SegmentMain})
	for _, s := range lockIDScenarios() {
		r.AddScenario(s)
	}
	for _, row := range matrixRows() {
		r.AddMatrixRow(row)
	}
}

func lockIDScenarios() []core.ScenarioInfo {
	return []core.ScenarioInfo{
		{
			Name:          "postgres-lock-holder-crash",
			Summary:       "row lock without an expiry column: the first holder crashes right after it read under the lock (holder-crash), and the others keep asking",
			Expect:        "invalid (exit 1): lock-stuck, the dead holder's row stays and every later acquisition fails to the end of the run; the witness names the hold, the holder's last operation and the failed acquisitions",
			ControlExpect: "valid (exit 0): with the expiry column the row expires one TTL after the insert, another client deletes it and takes the lock",
			Config:        lockCrashConfig,
		},
		{
			Name:          "postgres-lock-pause",
			Summary:       "row lock with expiry, no fencing: the holder stops for twice the TTL right after it read (holder-pause), another takes the expired lock and writes, the holder wakes and writes what it read",
			Expect:        "invalid (exit 1): write-after-validity and a lost update, with both holds and the pause before them",
			ControlExpect: "valid (exit 0): with fencing tokens from a sequence the resource rejects the woken holder's stale write; nothing is lost",
			Config:        lockPauseConfig,
		},
		{
			Name:          "postgres-autoinc-third-node",
			Summary:       "auto-increment over independent primaries: a third server is added with offset 3 while every server keeps step 2 (the two-primary setting); servers are killed meanwhile",
			Expect:        "invalid (exit 1): duplicate IDs, the third server's 3, 5, 7, ... are the first's, each with both servers and processes",
			ControlExpect: "valid (exit 0): every server steps by 3 (offsets 1, 2, 3): the progressions never meet, under kills too",
			Config:        autoincConfig,
		},
		{
			Name:          "postgres-segment-failover",
			Summary:       "segment allocation with the database on a primary and an asynchronous standby: the standby is cut off while the ID servers go on leasing from the primary, the primary dies, the standby is promoted",
			Expect:        "invalid (exit 1): duplicate IDs, ranges the old primary leased and acknowledged are leased again from the promoted standby, which never had them",
			ControlExpect: "valid (exit 0): with a synchronous standby a lease commits only once the standby has it; leases during the cut never complete, nothing acknowledged is lost",
			Config:        segmentFailoverConfig,
		},
		{
			Name:          "postgres-segment-order",
			Summary:       "segment allocation: two ID servers lease ranges of 50 from a PostgreSQL row and are killed meanwhile; the run is judged as if the IDs were one global counter",
			Expect:        "invalid (exit 1): non-monotonic-id across servers, an ID from one server's range after a larger one from the other's; the scheme never promised that",
			ControlExpect: "valid (exit 0): judged for what the scheme promises, every ID is unique and each server's grow, across kills; the order across servers is counted, not reported",
			Config:        segmentOrderConfig,
		},
	}
}

func lockCrashConfig(control bool) core.Config {
	return core.Config{
		Target: LockName, Workload: "lock-set", Nodes: 1, Concurrency: 3,
		TimeLimit: 6 * time.Second, Seed: 2,
		Nemeses: []string{lock.HolderCrashName}, NemesisInterval: 3 * time.Second,
		// Longer than the run: the crashed holder's operation ends only
		// when the main phase does.
		OpTimeout: 15 * time.Second, CheckTimeout: time.Minute,
		Params: core.Params{
			"postgres-lock-expiry": boolParam(control),
			"lock-ttl":             "1s", "lock-hold": "300ms", "lock-retry": "50ms",
		},
	}
}

func lockPauseConfig(control bool) core.Config {
	return core.Config{
		Target: LockName, Workload: "lock-set", Nodes: 1, Concurrency: 3,
		TimeLimit: 8 * time.Second, Seed: 4,
		Nemeses: []string{"holder-pause"}, NemesisInterval: 3 * time.Second,
		OpTimeout: 7 * time.Second, CheckTimeout: time.Minute,
		Params: core.Params{
			"postgres-lock-expiry":  "true",
			"postgres-lock-fencing": boolParam(control),
			"lock-ttl":              "2s", "lock-hold": "1s", "lock-retry": "50ms",
		},
	}
}

func autoincConfig(control bool) core.Config {
	steps := "2"
	if control {
		steps = "3"
	}
	return core.Config{
		Target: AutoincName, Workload: "ids", Nodes: 3, Concurrency: 6,
		TimeLimit: 4 * time.Second, Rate: 300, Seed: 5,
		Nemeses: []string{"kill"}, NemesisInterval: time.Second,
		OpTimeout: 2 * time.Second, CheckTimeout: time.Minute,
		Params: core.Params{"postgres-autoinc-offsets": "1,2,3", "postgres-autoinc-steps": steps},
	}
}

// SegmentFailoverName is the segment target's failover nemesis.
const SegmentFailoverName = "postgres-segment-failover"

func segmentFailoverConfig(control bool) core.Config {
	standby := "async"
	if control {
		standby = "sync"
	}
	return core.Config{
		Target: SegmentName, Workload: "ids", Nodes: 4, Concurrency: 4,
		TimeLimit: 7 * time.Second, Rate: 300, Seed: 8,
		Nemeses: []string{SegmentFailoverName}, NemesisInterval: time.Millisecond,
		OpTimeout: 2 * time.Second, FinalTimeout: 20 * time.Second, CheckTimeout: time.Minute,
		Params: core.Params{"postgres-segment-step": "10", "postgres-segment-standby": standby},
	}
}

func segmentOrderConfig(control bool) core.Config {
	order := "global"
	if control {
		order = "node"
	}
	return core.Config{
		Target: SegmentName, Workload: "ids", Nodes: 3, Concurrency: 4,
		TimeLimit: 5 * time.Second, Rate: 300, Seed: 6,
		Nemeses: []string{"kill"}, NemesisInterval: time.Second,
		OpTimeout: 2 * time.Second, CheckTimeout: time.Minute,
		Params: core.Params{"postgres-segment-step": "50", idsworkload.OrderParam: order},
	}
}

func boolParam(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
