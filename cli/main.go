// Package cli is the chaos command line: every command, flag and output mode
// of `chaos`, over a registry the caller fills. cmd/chaos calls it with every
// built-in part (catalog.New()); a user's own main calls it with their
// targets added:
//
//	func main() {
//		reg := builtin.New() // or catalog.New() for etcd, Redis and Docker too
//		mykv.Register(reg)
//		os.Exit(cli.Main(reg, cli.WithName("mykv-chaos")))
//	}
//
// This package only wires flags to the core packages.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/internal/term"
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
	// live tracks the runtimes made, for the clean hint (nil under Run).
	live *liveRuntimes
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
	newMatrixCmd,
}

// Option configures Main.
type Option func(*options)

type options struct {
	name    string
	version string
	args    []string
	stdout  io.Writer
	stderr  io.Writer
	live    *liveRuntimes
}

// WithName sets the program name shown in usage lines and messages
// (default "chaos").
func WithName(name string) Option { return func(o *options) { o.name = name } }

// WithVersion sets the version that --version prints.
func WithVersion(v string) Option { return func(o *options) { o.version = v } }

// WithArgs sets the command line without the program name (default
// os.Args[1:]).
func WithArgs(args []string) Option { return func(o *options) { o.args = args } }

// WithOutput sets where output and errors go (default os.Stdout and
// os.Stderr).
func WithOutput(stdout, stderr io.Writer) Option {
	return func(o *options) { o.stdout, o.stderr = stdout, stderr }
}

// Main runs the chaos command line over reg and returns the process's exit
// code: 0 every checker valid, 1 some checker invalid, 2 unknown verdict,
// usage error or harness failure. When the process was started by a
// runtime as one of reg's node programs, Main runs that node instead.
//
// The first SIGINT or SIGTERM cancels the run, which then heals, stops its
// nodes and keeps its history; a second one ends the harness at once (local
// nodes die with it through their parent-death signal; for a docker run it
// prints the `chaos clean --run <id>` line that removes what is left).
func Main(reg *core.Registry, opts ...Option) int {
	if code, ok := runNodeIfRequested(reg); ok {
		return code
	}
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	o.live = &liveRuntimes{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigc := make(chan os.Signal, 2)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigc)
	go func() {
		<-sigc
		fmt.Fprintf(o.stderr, "%s: interrupted: stopping the run and cleaning up (interrupt again to quit at once)\n", o.name)
		cancel()
		<-sigc
		// The second signal ends the harness now, teardown or not: say
		// what is left and how to remove it.
		o.live.hint(o.stderr, o.name)
		os.Exit(exitOther)
	}()
	code := run(ctx, reg, o)
	return code
}

// Run is Main without signal handling: it runs the command line under ctx.
func Run(ctx context.Context, reg *core.Registry, opts ...Option) int {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	return run(ctx, reg, o)
}

func defaultOptions() options {
	return options{name: "chaos", args: os.Args[1:], stdout: os.Stdout, stderr: os.Stderr}
}

// Command returns the root command over reg without running it, for a
// program that adds commands of its own or walks the command tree (its
// help, say). Exit codes are Run's to choose; Command's RunE errors only.
func Command(ctx context.Context, reg *core.Registry, opts ...Option) *cobra.Command {
	o := options{name: "chaos", args: os.Args[1:], stdout: os.Stdout, stderr: os.Stderr}
	for _, opt := range opts {
		opt(&o)
	}
	env := &cliEnv{ctx: ctx, reg: reg, stdout: o.stdout, stderr: o.stderr, live: o.live}
	root := newRootCmd(env)
	root.Use = o.name
	if o.version != "" {
		root.Version = o.version
	}
	return root
}

// run runs the command line and returns the process's exit code.
func run(ctx context.Context, reg *core.Registry, o options) int {
	args, stdout, stderr := o.args, o.stdout, o.stderr
	env := &cliEnv{ctx: ctx, reg: reg, stdout: stdout, stderr: stderr, live: o.live}
	root := newRootCmd(env)
	root.Use = o.name
	if o.version != "" {
		root.Version = o.version
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		// An error may quote a history or a node's log.
		fmt.Fprintf(stderr, "%s: %s\n", o.name, term.Text(err.Error()))
		env.live.hint(stderr, o.name)
		var ee exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		return exitOther
	}
	return env.code
}

// version is the module version and VCS commit this binary was built from,
// where known, and the Go toolchain: "v0.4.0, commit 3f2a9c1 (go1.26.8
// linux/amd64)", or "(devel) (go1.26.8 linux/amd64)" for a build that knows
// neither (see core.BuildVersions for the -ldflags that set them).
func version() string { return core.BuildVersions().String() }

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
	root.SetVersionTemplate("{{.Name}} {{.Version}}\n")
	for _, c := range commands {
		root.AddCommand(c(env))
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%w (see `%s --help`)", err, c.CommandPath())
	})
	return root
}

// runNodeIfRequested runs one of reg's node programs when a runtime started
// this process as one.
func runNodeIfRequested(reg *core.Registry) (int, bool) {
	if !core.NodeMainRequested() {
		return 0, false
	}
	return core.RunNodeMain(context.Background(), reg, os.Args[1:], os.Stderr), true
}
