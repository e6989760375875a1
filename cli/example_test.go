package cli_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"

	idcheck "github.com/chaostest/chaos/checkers/ids"
	"github.com/chaostest/chaos/cli"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/nemesis"
	"github.com/chaostest/chaos/runtime/local"
	"github.com/chaostest/chaos/workloads/ids"
)

// counterIDs is "your system": a shared in-process ID service that puts a
// millisecond timestamp above a global counter, so its IDs are unique.
type counterIDs struct{ n atomic.Uint64 }

func (s *counterIDs) Invoke(_ context.Context, op history.Op) history.Op {
	ms := uint64(time.Since(idcheck.DefaultEpoch).Milliseconds())
	op.Type, op.Value = history.OK, history.Uint(ms<<22|s.n.Add(1)%(1<<22))
	return op
}

func (*counterIDs) Close() error { return nil }

// myTarget adapts the service to core.Target: no processes to start, one
// client per worker.
type myTarget struct{ svc *counterIDs }

func (myTarget) Nodes([]string, core.Params) ([]core.NodeSpec, error) { return nil, nil }

func (t myTarget) NewClient(context.Context, string, core.ClientConfig) (core.Client, error) {
	return t.svc, nil
}

// A user's own main: a registry holding only the parts it uses plus its own
// target, and every chaos command, flag and output mode on top. Here the
// command line is given with WithArgs; a real main passes none and ends with
// os.Exit(cli.Main(reg, cli.WithName("mychaos"))).
func Example() {
	reg := core.NewRegistry()
	local.Register(reg) // where nodes run; runtime/docker registers the containers
	nemesis.Register(reg)
	ids.Register(reg)
	svc := &counterIDs{}
	reg.AddTarget(core.TargetInfo{Name: "myids", Summary: "our ID service", Workloads: []string{"ids"},
		New: func(core.Params) (core.Target, error) { return myTarget{svc}, nil }})

	store, _ := os.MkdirTemp("", "chaos-example-")
	defer os.RemoveAll(store)
	var out strings.Builder
	code := cli.Run(context.Background(), reg, cli.WithName("mychaos"),
		cli.WithArgs([]string{"run", "myids", "--time-limit", "1s", "--rate", "200", "--seed", "3", "--store", store, "-q"}),
		cli.WithOutput(&out, io.Discard))
	fmt.Println(strings.Fields(out.String() + " -")[0], "exit", code)

	// The listing shows the user's target beside the registered parts.
	out.Reset()
	cli.Run(context.Background(), reg, cli.WithArgs([]string{"list"}), cli.WithOutput(&out, io.Discard))
	fmt.Println(strings.Contains(out.String(), "myids"))
	// Output:
	// VALID exit 0
	// true
}
