package docker

import (
	"context"

	"github.com/chaostest/chaos/core"
)

// Register adds the docker runtime (`--runtime docker`) to r.
func Register(r *core.Registry) {
	r.AddRuntime(core.RuntimeInfo{Name: "docker",
		Summary: "each node in its own container (images built FROM scratch); partitions with nftables",
		New:     func(ctx context.Context) (core.Runtime, error) { return New(ctx) },
		Nemeses: Nemeses,
		// Provides nothing beyond a node's program and HostFiles: that is
		// all an image built FROM scratch holds (no core.HostSoftware).
		Clean: func(ctx context.Context, o core.CleanOptions) (core.CleanReport, error) {
			rep, err := Clean(ctx, CleanOptions{Force: o.Force, Images: o.Images, DryRun: o.DryRun, Run: o.Run})
			return core.CleanReport{Containers: rep.Containers, Networks: rep.Networks, Images: rep.Images, Spared: rep.Spared}, err
		}})
}
