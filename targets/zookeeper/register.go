package zookeeper

import (
	"github.com/chaostest/chaos/core"
	idsworkload "github.com/chaostest/chaos/workloads/ids"
	"github.com/chaostest/chaos/workloads/lock"
)

// Register adds the zookeeper target, its node program and its scenarios to
// r.
func Register(r *core.Registry) {
	r.AddTarget(core.TargetInfo{
		Name:      Name,
		Summary:   "ZooKeeper 3.8 ensemble (Debian's package, one JVM per server): the ephemeral-sequential lock recipe with sequence-number fencing, sequential znodes as IDs; partition cuts client-server and server-server links (local runtime)",
		Params:    Params,
		Workloads: []string{"lock", "lock-set", "ids"},
		Nemeses:   []string{"kill", "pause", "partition", "packet", "holder-pause"},
		// IDs are plain counter values, and a single counter promises one
		// order across every node.
		WorkloadDefaults: core.Params{idsworkload.LayoutParam: "counter", idsworkload.OrderParam: "global"},
		// A JVM loads its modules, class path and configuration from the
		// host's installation at run time: no image built from a program
		// and a list of host files holds it.
		Needs: []core.Need{{Capability: core.HostSoftware,
			Why: "each server is a JVM from the host's zookeeper package, with the Java modules, class path and configuration it loads at run time"}},
		// The pause board is the one package workloads/lock registered,
		// looked up when a run is built.
		New: func(p core.Params) (core.Target, error) { return NewWithPauses(p, lock.PausesOf(r)) },
	})
	for _, s := range Scenarios() {
		r.AddScenario(s)
	}
	for _, row := range MatrixRows() {
		r.AddMatrixRow(row)
	}
	r.AddNode(core.NodeInfo{Name: Name, Summary: "one ZooKeeper server (writes its zoo.cfg and myid, runs java with its connections relayed through the runtime's links)", Main: NodeMain})
}
