package etcd

import "github.com/chaostest/chaos/core"

// Register adds the etcd target and its node program to r.
func Register(r *core.Registry) {
	r.AddTarget(core.TargetInfo{
		Name:      Name,
		Summary:   "etcd v3 cluster (embedded etcd, one process per member): register on kv transactions, concurrency.Mutex locks with revision fencing",
		Params:    Params,
		Workloads: []string{"register", "lock", "lock-set"},
		Nemeses:   []string{"kill", "pause", "partition"},
		New:       New,
	})
	r.AddScenario(LockPauseScenario())
	r.AddNode(core.NodeInfo{Name: Name, Summary: "one etcd member (embedded go.etcd.io/etcd/server/v3)", Main: NodeMain})
}
