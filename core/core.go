// Package core holds the roles of a chaos test and the runner that plays
// them. The flow is one-way: a workload's generators produce invocations, the
// runner hands them to clients of the target, clients reach nodes that the
// runtime started, the nemesis injects faults through the same runtime, every
// step is appended to the history on disk, and checkers judge that history
// once the run is over.
//
// Outcomes are operations, errors are harness faults: a client reports a known
// failure as fail and an unknown outcome as info; a Go error from a target or
// runtime means the set-up itself broke.
package core

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/workloads/gen"
)

// Client performs operations against the system under test on behalf of one
// process. A client is used by one goroutine at a time.
type Client interface {
	// Invoke performs op and returns its completion: op with Type set to ok,
	// fail or info, and Value or Error filled in. When it cannot know whether
	// op took effect (a timeout, a lost connection after sending) it must say
	// info, never fail. ctx carries the operation's deadline; the runner
	// records anything that outlives it as info.
	Invoke(ctx context.Context, op history.Op) history.Op
	// Close releases the client's connections.
	Close() error
}

// BrokenClient is a client that can tell that it cannot go on: after every
// operation the runner asks it, and a non-nil error ends the run as a
// harness failure. A client whose other side broke the op contract (a client
// program that printed garbage or died) says so here, so that a run of
// operations nobody could perform is never judged as if it were whole.
type BrokenClient interface {
	Client
	Broken() error
}

// ClientConfig is what a target needs to open a client.
type ClientConfig struct {
	// Process is the process id the client acts for.
	Process int
	// Endpoint names the client in the runtime's fault layer ("c0", "c1",
	// ...), so a partition can cut one client off from chosen nodes.
	Endpoint string
	// Node is the node the client talks to.
	Node  string
	Nodes []string
	// Addr resolves a named port of a node as this client reaches it.
	Addr func(node, port string) (string, error)
	// Params are the run's parameters (target, workload and nemesis).
	Params Params
	// OpTimeout bounds a single operation.
	OpTimeout time.Duration
}

// Target is a system under test: which nodes make it up and how clients
// speak to it.
type Target interface {
	// Nodes describes the nodes to start, one spec per name.
	Nodes(names []string, p Params) ([]NodeSpec, error)
	// NewClient opens a client for the given workload.
	NewClient(ctx context.Context, workload string, cfg ClientConfig) (Client, error)
}

// ClientNoder is a Target whose clients talk only to some of its nodes
// (ID servers beside the database they lease from). Workers are spread
// over the nodes ClientNodes returns instead of over every node; an empty
// answer means every node.
type ClientNoder interface {
	ClientNodes(nodes []string) []string
}

// Workload is what the clients do and how the result is judged.
type Workload interface {
	// Generator returns the main-phase operations of one worker. It is
	// called once per worker.
	Generator(worker int) gen.Generator
	// Final returns operations to run once every fault is healed (for
	// example a read of every key on every node), or nil. An op that names a
	// node is sent to that node.
	Final(nodes []string) []history.Op
	// Checkers returns the checkers that judge a history of this workload.
	// They are built from the header alone, so `chaos check` can rebuild
	// them from a stored history.
	Checkers(h *history.Header) ([]checkers.Checker, error)
}

// Nemesis injects one kind of fault. Its plan is pure: Next depends only on
// the random source and the nemesis's own earlier plans, never on outcomes,
// so the same seed gives the same fault schedule.
type Nemesis interface {
	Name() string
	// Next plans the next fault (F, Node, Value), for the process nemesis.
	Next(rng *rand.Rand, nodes []string) history.Op
	// Apply performs a planned fault through the runtime and returns its
	// completion (ok, or fail/info with Error).
	Apply(ctx context.Context, rt Runtime, op history.Op) history.Op
	// HealOps plans the operations that undo every fault this nemesis left
	// in place; the runner applies and records them when the main phase ends.
	HealOps(nodes []string) []history.Op
}

// Link is a directed network path: traffic from From to To. Endpoints are node
// names or client endpoints ("c0", ...).
type Link struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// ClockMethod says how the runtime moves a node's clock.
type ClockMethod int

const (
	// ClockNone: the node's clock cannot be moved.
	ClockNone ClockMethod = iota
	// ClockControl: the node reads time through an offset it takes from the
	// CHAOS_CLOCK_OFFSET variable at start and from its control port later
	// (see NodeClock). The host clock is never touched.
	ClockControl
	// ClockFaketime: the node runs under libfaketime, whose timestamp file
	// the runtime rewrites.
	ClockFaketime
)

// NodeEnv is what a node's command line may depend on. Addresses are fixed
// when the runtime is set up and stay the same across restarts.
type NodeEnv struct {
	Name string
	// Listen is the address the node binds for a named port.
	Listen func(port string) string
	// Peer is the address at which this node reaches another node's port.
	Peer func(node, port string) string
	// DataDir is the node's own directory; it survives restarts.
	DataDir string
}

// NodeSpec describes one node process.
type NodeSpec struct {
	Name string
	// Program is the executable to run. Empty means this binary itself, run
	// as `chaos node <Kind> args...`.
	Program string
	Kind    string
	// Ports are the named ports the node listens on ("api", "control", ...).
	Ports []string
	Args  func(env NodeEnv) []string
	Env   []string
	Clock ClockMethod
	// Ready returns nil once the node serves; the runtime polls it after
	// every start until it succeeds or ctx ends. addr resolves the node's own
	// ports as the harness reaches them.
	Ready func(ctx context.Context, addr func(port string) (string, error)) error
}

// Runtime starts nodes and injects faults into them. Nemeses act only
// through it. Every method is safe for concurrent use.
type Runtime interface {
	Name() string
	// Setup fixes the cluster: every node's addresses and directories. dir is
	// the run's store directory, where node logs go. No node runs yet.
	Setup(ctx context.Context, dir string, specs []NodeSpec) error
	// Addr is the address at which from (a node, or a client endpoint)
	// reaches port of node to.
	Addr(from, to, port string) (string, error)
	// Start starts node and waits until it is ready; a running node is left
	// alone.
	Start(ctx context.Context, node string) error
	// Stop stops node gracefully.
	Stop(ctx context.Context, node string) error
	// Kill stops node at once (SIGKILL).
	Kill(ctx context.Context, node string) error
	Pause(ctx context.Context, node string) error
	Resume(ctx context.Context, node string) error
	// SetClockOffset moves node's clock to host time plus offset; it persists
	// across restarts until changed.
	SetClockOffset(ctx context.Context, node string, offset time.Duration) error
	// Partition cuts the given links, in addition to those already cut.
	Partition(ctx context.Context, cut []Link) error
	// Heal restores every link.
	Heal(ctx context.Context) error
	// Teardown heals, resumes, resets clocks, stops every node and collects
	// their logs. It is idempotent and must run even after ctx ended.
	Teardown(ctx context.Context) error
}

// ErrUnsupported is wrapped by runtime methods that the runtime cannot do.
var ErrUnsupported = errUnsupported{}

type errUnsupported struct{}

func (errUnsupported) Error() string { return "not supported by this runtime" }
