// Package catalog wires every target, workload, nemesis and node program
// into one registry. It is the only place that knows them all; cmd/chaos and
// the public test package use it, and nothing below imports it.
package catalog

import (
	"context"
	"fmt"
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
const NodeEnv = "CHAOS_NODE_MAIN"

// RunNodeIfRequested runs a node program and exits when this process was
// started as one (args: node <kind> flags...). Test binaries call it first
// thing in TestMain so the local runtime can use them as `chaos node`.
func RunNodeIfRequested() {
	if os.Getenv(NodeEnv) != "1" {
		return
	}
	args := os.Args[1:]
	if len(args) < 2 || args[0] != "node" {
		fmt.Fprintln(os.Stderr, "chaos node: want `node <kind> [flags]`")
		os.Exit(2)
	}
	os.Exit(RunNode(context.Background(), New(), args[1], args[2:]))
}

// RunNode runs the named node program until it ends or receives SIGTERM.
func RunNode(ctx context.Context, reg *core.Registry, kind string, args []string) int {
	ni, err := reg.Node(kind)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos node:", err)
		return 2
	}
	ctx, stop := signalContext(ctx)
	defer stop()
	if err := ni.Main(ctx, args); err != nil {
		fmt.Fprintf(os.Stderr, "chaos node %s: %v\n", kind, err)
		return 1
	}
	return 0
}
