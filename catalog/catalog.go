// Package catalog wires every target, workload, nemesis, runtime and node
// program into one registry: the parts of the chaos module (package
// builtin) and the modules that need large client libraries (the etcd,
// Redis, PostgreSQL and ZooKeeper targets, the Docker runtime). cmd/chaos uses it; nothing in the
// chaos module imports it, so a user who imports chaostest or cli gets
// none of those libraries.
package catalog

import (
	"context"
	"os"

	"github.com/chaostest/chaos/builtin"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/runtime/docker"
	"github.com/chaostest/chaos/targets/etcd"
	"github.com/chaostest/chaos/targets/postgres"
	"github.com/chaostest/chaos/targets/postgres/twopc"
	"github.com/chaostest/chaos/targets/redis"
	"github.com/chaostest/chaos/targets/zookeeper"
)

// New returns a registry of everything this build knows.
func New() *core.Registry { return builtin.New(registrations...) }

// registrations lists the Register functions of the modules beyond builtin.
var registrations = []func(*core.Registry){
	docker.Register,
	etcd.Register,
	redis.Register,
	postgres.Register,
	twopc.Register,
	zookeeper.Register,
}

// NodeEnv marks a process started by the local runtime to run a node
// program: a test binary re-executed as a node checks it in TestMain.
const NodeEnv = core.NodeMainEnv

// RunNodeIfRequested runs a node program and exits when this process was
// started as one (args: node <kind> flags...). Test binaries call it first
// thing in TestMain so the local runtime can use them as `chaos node`.
func RunNodeIfRequested() { builtin.RunNodeIfRequested(registrations...) }

// RunNode runs the named node program until it ends or receives SIGTERM.
func RunNode(ctx context.Context, reg *core.Registry, kind string, args []string) int {
	return core.RunNode(ctx, reg, kind, args, os.Stderr)
}
