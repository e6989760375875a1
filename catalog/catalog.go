// Package catalog wires every target, workload, nemesis and node program
// into one registry. It is the only place that knows them all; cmd/chaos and
// the public test package use it, and nothing below imports it.
package catalog

import (
	"context"
	"os"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/nemesis"
	"github.com/chaostest/chaos/targets/etcd"
	"github.com/chaostest/chaos/targets/gossip"
	"github.com/chaostest/chaos/targets/postgres"
	"github.com/chaostest/chaos/targets/redis"
	"github.com/chaostest/chaos/targets/refkv"
	"github.com/chaostest/chaos/targets/snowflake"
	"github.com/chaostest/chaos/workloads/ids"
	"github.com/chaostest/chaos/workloads/kv"
	"github.com/chaostest/chaos/workloads/lock"
	"github.com/chaostest/chaos/workloads/register"
	"github.com/chaostest/chaos/workloads/txn"
)

// New returns a registry of everything this build knows.
func New() *core.Registry {
	r := core.NewRegistry()
	for _, register := range registrations {
		register(r)
	}
	return r
}

// registrations lists each package's Register function.
var registrations = []func(*core.Registry){
	nemesis.Register,
	etcd.Register,
	gossip.Register,
	kv.Register,
	ids.Register,
	snowflake.Register,
	register.Register,
	refkv.Register,
	lock.Register,
	redis.Register,
	txn.Register,
	postgres.Register,
}

// NodeEnv marks a process started by the local runtime to run a node
// program: a test binary re-executed as a node checks it in TestMain.
const NodeEnv = core.NodeMainEnv

// RunNodeIfRequested runs a node program and exits when this process was
// started as one (args: node <kind> flags...). Test binaries call it first
// thing in TestMain so the local runtime can use them as `chaos node`.
func RunNodeIfRequested() {
	if !core.NodeMainRequested() {
		return
	}
	os.Exit(core.RunNodeMain(context.Background(), New(), os.Args[1:], os.Stderr))
}

// RunNode runs the named node program until it ends or receives SIGTERM.
func RunNode(ctx context.Context, reg *core.Registry, kind string, args []string) int {
	return core.RunNode(ctx, reg, kind, args, os.Stderr)
}
