package etcd

import (
	"github.com/chaostest/chaos/core"
	idsworkload "github.com/chaostest/chaos/workloads/ids"
	"github.com/chaostest/chaos/workloads/lock"
)

// Register adds the etcd target and its node program to r.
func Register(r *core.Registry) {
	r.AddTarget(core.TargetInfo{
		Name:      Name,
		Summary:   "etcd v3.7.3 cluster, one embedded member per process: register (kv txns), concurrency.Mutex locks with revision fencing, revision IDs; partition cuts client-member and member-member links (local runtime)",
		Params:    Params,
		Workloads: []string{"register", "lock", "lock-set", "ids"},
		Nemeses:   []string{"kill", "pause", "partition", "packet", "holder-pause", "read-isolate"},
		// IDs are plain counter values, and a single counter promises one
		// order across every node.
		WorkloadDefaults: core.Params{idsworkload.LayoutParam: "counter", idsworkload.OrderParam: "global"},
		// The pause board is the one package workloads/lock registered,
		// looked up when a run is built.
		New: func(p core.Params) (core.Target, error) { return NewWithPauses(p, lock.PausesOf(r)) },
	})
	r.AddScenario(LockPauseScenario())
	r.AddScenario(SerializableStaleReadScenario())
	r.AddMatrixRow(MatrixRow())
	r.AddMatrixRow(IDsMatrixRow())
	r.AddNode(core.NodeInfo{Name: Name, Summary: "one etcd member (embedded go.etcd.io/etcd/server/v3)", Main: NodeMain})
}
