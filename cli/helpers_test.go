package cli

import (
	"context"
	"io"

	"github.com/chaostest/chaos/builtin"
)

// realMain is the chaos binary's main, for tests that re-execute the test
// binary as the command.
func realMain() int { return Main(builtin.New()) }

// execute runs the command line over every built-in target.
func execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return Run(ctx, builtin.New(), WithArgs(args), WithOutput(stdout, stderr))
}
