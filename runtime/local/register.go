package local

import (
	"context"

	"github.com/chaostest/chaos/core"
)

// Register adds the local runtime (`--runtime local`, the default) to r.
func Register(r *core.Registry) {
	r.AddRuntime(core.RuntimeInfo{Name: "local",
		Summary: "each node a child process on 127.0.0.1; partitions through loopback proxies (default)",
		New:     func(context.Context) (core.Runtime, error) { return New() },
		// Nodes are the host's own processes: whatever the host has
		// installed, they can run.
		Provides: []core.Capability{core.HostSoftware}})
}
