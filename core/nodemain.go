package core

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// NodeMainEnv marks a process that a runtime started to run one of the
// registry's node programs (args: node <kind> flags...). The runtimes set it
// so that any binary carrying the registry, a test binary included, can act
// as `chaos node`.
const NodeMainEnv = "CHAOS_NODE_MAIN"

// NodeMainRequested reports whether this process was started as a node
// program.
func NodeMainRequested() bool { return os.Getenv(NodeMainEnv) == "1" }

// RunNodeMain runs the node program named by args (node <kind> flags...)
// until it ends or the process receives SIGINT or SIGTERM, and returns the
// exit code: 0 clean end, 1 the node failed, 2 a bad command line.
func RunNodeMain(ctx context.Context, reg *Registry, args []string, stderr io.Writer) int {
	if len(args) < 2 || args[0] != "node" {
		fmt.Fprintln(stderr, "chaos node: want `node <kind> [flags]`")
		return 2
	}
	return RunNode(ctx, reg, args[1], args[2:], stderr)
}

// RunNode runs the named node program with its flags until it ends or the
// process receives SIGINT or SIGTERM.
func RunNode(ctx context.Context, reg *Registry, kind string, args []string, stderr io.Writer) int {
	ni, err := reg.Node(kind)
	if err != nil {
		fmt.Fprintln(stderr, "chaos node:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := ni.Main(ctx, args); err != nil {
		fmt.Fprintf(stderr, "chaos node %s: %v\n", kind, err)
		return 1
	}
	return 0
}
