// Package builtin registers every part that lives in the chaos module
// itself: the local runtime, the nemeses, the workloads, and the snowflake,
// gossip and refkv targets. Their dependencies are the standard library and
// porcupine, so a program that uses them, chaostest included, links nothing
// heavy. The targets and runtimes that need a large client library (etcd,
// Redis, PostgreSQL, Docker) are modules of their own, each with a Register function;
// package catalog adds them all.
package builtin

import (
	"context"
	"os"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/nemesis"
	"github.com/chaostest/chaos/runtime/local"
	"github.com/chaostest/chaos/targets/gossip"
	"github.com/chaostest/chaos/targets/refkv"
	"github.com/chaostest/chaos/targets/snowflake"
	"github.com/chaostest/chaos/workloads/bank"
	"github.com/chaostest/chaos/workloads/ids"
	"github.com/chaostest/chaos/workloads/kv"
	"github.com/chaostest/chaos/workloads/lock"
	"github.com/chaostest/chaos/workloads/register"
	"github.com/chaostest/chaos/workloads/txn"
)

// Register adds every part of the chaos module to r.
func Register(r *core.Registry) {
	for _, reg := range registrations {
		reg(r)
	}
}

// registrations lists each package's Register function.
var registrations = []func(*core.Registry){
	local.Register,
	nemesis.Register,
	gossip.Register,
	kv.Register,
	ids.Register,
	snowflake.Register,
	register.Register,
	refkv.Register,
	lock.Register,
	txn.Register,
	bank.Register,
}

// New returns a registry of every part of the chaos module, plus whatever
// the extra Register functions add.
func New(extra ...func(*core.Registry)) *core.Registry {
	r := core.NewRegistry()
	Register(r)
	for _, reg := range extra {
		reg(r)
	}
	return r
}

// RunNodeIfRequested runs a node program and exits when a runtime started
// this process as one (args: node <kind> flags...). Test binaries call it
// first thing in TestMain so the local runtime can use them as `chaos node`;
// extra registers the node programs of further targets.
func RunNodeIfRequested(extra ...func(*core.Registry)) {
	if !core.NodeMainRequested() {
		return
	}
	os.Exit(core.RunNodeMain(context.Background(), New(extra...), os.Args[1:], os.Stderr))
}
