package gossip_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chaostest/chaos/builtin"
	"github.com/chaostest/chaos/checkers/convergence"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/runtime/linkproxy"
	"github.com/chaostest/chaos/runtime/local"
)

// BenchmarkCluster25 is the Fly.io broadcast challenge's bar on the real
// store: 25 node processes, 100 ms latency on every node-to-node link, 100
// client ops/s; it reports messages per operation and convergence times (from
// a write's acknowledgement until the last node holds it or something newer).
// Run it with -benchtime 1x: one iteration is a whole run.
func BenchmarkCluster25(b *testing.B) {
	slow := func(l core.Link) linkproxy.Shape {
		if strings.HasPrefix(l.From, "n") && strings.HasPrefix(l.To, "n") {
			return linkproxy.Shape{Latency: 100 * time.Millisecond}
		}
		return linkproxy.Shape{}
	}
	var d convergence.Details
	for b.Loop() {
		cfg := core.Config{Target: "gossip", Nodes: 25, Concurrency: 10, Rate: 100, TimeLimit: 20 * time.Second,
			Seed: 25, Store: b.TempDir(), OpTimeout: 2 * time.Second,
			Params: core.Params{"gossip-quiesce-timeout": "10s"},
			NewRuntime: func() (core.Runtime, error) {
				return local.New(local.WithLinkLayer(linkproxy.New(linkproxy.WithShape(slow))))
			}}
		p, err := core.Prepare(builtin.New(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		out, err := core.Execute(context.Background(), p)
		if err != nil {
			b.Fatal(err)
		}
		r := out.Results.Checkers["convergence"]
		b.Logf("%s", r.Summary)
		var ok bool
		if d, ok = r.Details.(convergence.Details); !ok {
			b.Fatalf("convergence %s: %s", r.Valid, r.Error)
		}
	}
	b.ReportMetric(d.MessagesPerOp, "msgs/op")
	b.ReportMetric(d.ConvergenceMS["p50"], "conv-p50-ms")
	b.ReportMetric(d.ConvergenceMS["p99"], "conv-p99-ms")
	b.ReportMetric(d.ConvergenceMS["max"], "conv-max-ms")
}
