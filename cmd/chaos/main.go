// Command chaos runs chaos tests against distributed systems and judges
// their histories. This package only wires flags to the core packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/chaostest/chaos/catalog"
	"github.com/chaostest/chaos/core"
)

// Exit codes: every checker valid, some checker invalid, anything else.
const (
	exitValid   = 0
	exitInvalid = 1
	exitOther   = 2
)

// cliEnv is what every command shares: the registry, the output streams and
// the context that the first Ctrl-C cancels.
type cliEnv struct {
	ctx    context.Context
	reg    *core.Registry
	stdout io.Writer
	stderr io.Writer
	// code is the exit code a command chose; errors always exit 2.
	code int
	// out is how run and repro report (see output.go).
	out outputOptions
}

// commands lists the constructors of the subcommands, one file each.
var commands = []func(*cliEnv) *cobra.Command{
	newRunCmd,
	newCheckCmd,
	newListCmd,
	newReproCmd,
	newNodeCmd,
	newReportCmd,
	newServeCmd,
	newSimCmd,
	newCleanCmd,
}

func main() {
	catalog.RunNodeIfRequested()
	os.Exit(realMain())
}

func realMain() int {
	// The first SIGINT or SIGTERM cancels the run, which then heals, stops
	// its nodes and keeps its history; a second one kills the harness at
	// once (its nodes die with it through their parent-death signal).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	return execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
}

// execute runs the command line and returns the process's exit code.
func execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	env := &cliEnv{ctx: ctx, reg: catalog.New(), stdout: stdout, stderr: stderr}
	root := newRootCmd(env)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "chaos:", err)
		var ee exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		return exitOther
	}
	return env.code
}

// version is the module version and VCS commit this binary was built from,
// and the Go toolchain ("(devel) 3f2a... (go1.26 linux/amd64)").
func version() string {
	v := core.BuildVersions()
	return fmt.Sprintf("%s (%s %s)", v.Chaos, v.Go, v.OS)
}

// exitError carries a specific exit code with its message.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

func newRootCmd(env *cliEnv) *cobra.Command {
	root := &cobra.Command{
		Use:   "chaos",
		Short: "Chaos and consistency testing for distributed systems",
		Long: `chaos drives concurrent operations against a distributed system while
nemeses partition the network, kill and pause processes and move clocks, records
every operation in a history, and judges that history with checkers.

Exit codes: 0 every checker valid, 1 some checker invalid,
2 unknown verdict, usage error or harness failure.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version(),
	}
	root.SetVersionTemplate("chaos {{.Version}}\n")
	for _, c := range commands {
		root.AddCommand(c(env))
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%w (see `%s --help`)", err, c.CommandPath())
	})
	return root
}
