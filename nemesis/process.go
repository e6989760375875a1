package nemesis

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
)

// ProcessValue is the value of a kill or pause record.
type ProcessValue struct {
	// Delay is how long a restart keeps the node down.
	Delay string `json:"delay,omitempty"`
}

// Kill faults stop nodes at once (SIGKILL) and start them again: "kill"
// leaves the node down until a later "start", "restart" brings it back after
// kill-restart-delay. At most one node is down at a time, so a majority
// always survives.
type Kill struct {
	RestartDelay time.Duration
	down         map[string]bool // planned
	// dead marks the nodes that may be down now; the heal starts them. The
	// plan is not enough: a planned fault may never be applied.
	dead marks
}

// KillParams are the kill nemesis's flags.
var KillParams = []core.Param{
	{Name: "kill-restart-delay", Type: core.TypeDuration, Default: "0s", Usage: "how long a restarted node stays down (a delay past a lock TTL changes the outcome)"},
}

// NewKill builds the kill nemesis.
func NewKill(p core.Params) (core.Nemesis, error) {
	d, err := p.Duration("kill-restart-delay", 0)
	if err != nil {
		return nil, err
	}
	if d < 0 {
		return nil, fmt.Errorf("--kill-restart-delay %s: must not be negative", d)
	}
	return &Kill{RestartDelay: d, down: map[string]bool{}}, nil
}

// Name is "kill".
func (k *Kill) Name() string { return "kill" }

// Next starts the node that is down, or kills or restarts a random one.
func (k *Kill) Next(rng *rand.Rand, nodes []string) history.Op {
	for _, n := range slices.Sorted(maps.Keys(k.down)) {
		if k.down[n] {
			k.down[n] = false
			return history.Op{F: "start", Node: n}
		}
	}
	node := nodes[rng.IntN(len(nodes))]
	if rng.IntN(2) == 0 {
		k.down[node] = true
		return history.Op{F: "kill", Node: node}
	}
	return history.Op{F: "restart", Node: node, Value: history.JSON(ProcessValue{Delay: k.RestartDelay.String()})}
}

// Apply kills, starts or restarts the node.
func (k *Kill) Apply(ctx context.Context, rt core.Runtime, op history.Op) history.Op {
	switch op.F {
	case "kill":
		k.dead.set(op.Node, true)
		return outcome(op, rt.Kill(ctx, op.Node))
	case "start":
		return k.start(ctx, rt, op)
	case "restart":
		var v ProcessValue
		if err := op.DecodeValue(&v); err != nil {
			return failed(op, fmt.Errorf("bad restart value: %w", err))
		}
		delay, _ := time.ParseDuration(v.Delay)
		k.dead.set(op.Node, true)
		if err := rt.Kill(ctx, op.Node); err != nil {
			return indeterminate(op, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
		// Start even when ctx ended, so a restart never leaves a node down.
		return k.start(context.WithoutCancel(ctx), rt, op)
	}
	return failed(op, fmt.Errorf("kill nemesis: unknown fault %q", op.F))
}

func (k *Kill) start(ctx context.Context, rt core.Runtime, op history.Op) history.Op {
	if err := rt.Start(ctx, op.Node); err != nil {
		return indeterminate(op, err)
	}
	k.dead.set(op.Node, false)
	return ok(op)
}

// HealOps starts every node this nemesis left down.
func (k *Kill) HealOps(nodes []string) []history.Op { return undo(k.down, &k.dead, "start") }

// Pause faults freeze a node (SIGSTOP) and later resume it (SIGCONT): the
// node keeps its connections and state but answers nothing, like a long GC
// pause or a VM migration. At most one node is paused at a time.
type Pause struct {
	paused map[string]bool // planned
	frozen marks           // may be paused now
}

// NewPause builds the pause nemesis.
func NewPause(core.Params) (core.Nemesis, error) {
	return &Pause{paused: map[string]bool{}}, nil
}

// Name is "pause".
func (p *Pause) Name() string { return "pause" }

// Next resumes the paused node, or pauses a random one.
func (p *Pause) Next(rng *rand.Rand, nodes []string) history.Op {
	for _, n := range slices.Sorted(maps.Keys(p.paused)) {
		if p.paused[n] {
			p.paused[n] = false
			return history.Op{F: "resume", Node: n}
		}
	}
	node := nodes[rng.IntN(len(nodes))]
	p.paused[node] = true
	return history.Op{F: "pause", Node: node}
}

// Apply pauses or resumes the node.
func (p *Pause) Apply(ctx context.Context, rt core.Runtime, op history.Op) history.Op {
	switch op.F {
	case "pause":
		p.frozen.set(op.Node, true)
		return outcome(op, rt.Pause(ctx, op.Node))
	case "resume":
		if err := rt.Resume(ctx, op.Node); err != nil {
			return indeterminate(op, err)
		}
		p.frozen.set(op.Node, false)
		return ok(op)
	}
	return failed(op, fmt.Errorf("pause nemesis: unknown fault %q", op.F))
}

// HealOps resumes every node this nemesis left paused.
func (p *Pause) HealOps(nodes []string) []history.Op { return undo(p.paused, &p.frozen, "resume") }

// undo clears the plan and plans f for every node that may still be
// faulted, in name order.
func undo(planned map[string]bool, faulted *marks, f string) []history.Op {
	clear(planned)
	var ops []history.Op
	for _, n := range faulted.list() {
		ops = append(ops, history.Op{F: f, Node: n})
	}
	return ops
}

// marks is a concurrency-safe set of node names: Apply runs on the nemesis
// goroutine, HealOps on the runner's.
type marks struct {
	mu sync.Mutex
	m  map[string]bool
}

func (s *marks) set(node string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]bool{}
	}
	if on {
		s.m[node] = true
	} else {
		delete(s.m, node)
	}
}

func (s *marks) has(node string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[node]
}

// list returns the marked nodes in name order.
func (s *marks) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.m))
}

// outcome is ok when err is nil and info otherwise: a runtime error leaves
// open whether the signal or start reached the node.
func outcome(op history.Op, err error) history.Op {
	if err != nil {
		return indeterminate(op, err)
	}
	return ok(op)
}
