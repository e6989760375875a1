package redis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/workloads/lock"
)

// Step is one fault of a script: after waiting After since the previous
// step completed, do F ("partition", "heal", "clock-jump", "kill", "start",
// "restart", "promote", "client-pause") on Node.
type Step struct {
	After time.Duration
	F     string
	Node  string
	// Cut is a partition's links (both directions are listed).
	Cut []core.Link
	// Offset is a clock jump's offset from host time.
	Offset time.Duration
	// Delay keeps a restarted node down this long.
	Delay time.Duration
	// Client and Pause describe a client pause.
	Client string
	Pause  time.Duration
	// On, when set, holds the step back until a client's acquire completes
	// ok (the event is named in the step's record); After is then not used.
	On *Event
	// Replica, on a kill, is the node that replicates the killed one: the
	// kill waits up to replicaWait for it to have every write the primary
	// acknowledged, and the record says whether it had.
	Replica string
	// Skip, on a promote, is how far the promoted node moves the ID
	// counter on before it serves (the range a failover skips).
	Skip int64
	// Primary, on a replicaof, is the node the step's node follows from
	// then on (a restarted old primary rejoining as a replica).
	Primary string
	// Releases names clients whose acquires the script holds back (a
	// lock.Gate each) from the run's first event until this step has been
	// applied: they try the lock once the fault is done (the partition in
	// place, the replica promoted), however long the runtime took to do
	// it; a client's lock-start delay then counts from there.
	Releases []string
}

// Event is what a step waits for: the acquire of Client completing ok, or,
// with Completions, that many ID requests completing (ok or fail) since
// the step before.
type Event struct {
	Client      string
	Completions int
}

// matches reports whether a history record is the event; since is the
// number of ID requests completed since the step before, this one included.
func (e *Event) matches(op history.Op, since int) bool {
	if e.Completions > 0 {
		return since >= e.Completions
	}
	if op.IsNemesis() || op.F != lock.FAcquire || op.Type != history.OK {
		return false
	}
	var g lock.Grant
	return op.DecodeValue(&g) == nil && g.Client == e.Client
}

// StepValue is the value of a scripted fault record.
type StepValue struct {
	Step   int         `json:"step"`
	After  string      `json:"after"`
	Cut    []core.Link `json:"cut,omitempty"`
	Offset string      `json:"offset,omitempty"`
	Delay  string      `json:"delay,omitempty"`
	Client string      `json:"client,omitempty"`
	Pause  string      `json:"duration,omitempty"`
	// Replica and Replicated: whether the replica had caught up with the
	// primary when it was killed.
	Replica    string `json:"replica,omitempty"`
	Replicated *bool  `json:"replicated,omitempty"`
	// Skip and Primary: see Step.
	Skip    int64  `json:"skip,omitempty"`
	Primary string `json:"primary,omitempty"`
	// Releases: the clients held until this step was applied.
	Releases []string `json:"releases,omitempty"`
}

// Script is a fixed fault plan: the nemesis of a named scenario. Its plan
// ignores the random source entirely, so every seed applies the same faults
// in the same order. It is event-triggered (core.Triggered): the first
// client record of the run starts it, and a step with On waits for its
// event, so a fault lands on the state it is aimed at (a lock c0 has just
// been granted) however long the machine took to get there. Between steps
// without On the script keeps the gaps it sets; a gap counts from the step
// before, and is waited at the end of that step, so each record opens when
// its fault is done.
type Script struct {
	name   string
	steps  []Step
	next   int
	pauses *lock.Pauses

	// since counts ID requests completed since the last planned step.
	since int

	cut     bool
	offsets map[string]time.Duration
	down    map[string]bool

	// gates are the held clients by the step that releases them, closed at
	// the first event (before any client's first acquire is sent).
	gatesMu sync.Mutex
	gates   map[int][]*lock.Gate
	started bool
}

var (
	_ core.Nemesis   = (*Script)(nil)
	_ core.Triggered = (*Script)(nil)
)

// NewScript plays steps; pauses is the client-pause board.
func NewScript(name string, steps []Step, pauses *lock.Pauses) *Script {
	return &Script{name: name, steps: steps, pauses: pauses, offsets: map[string]time.Duration{}, down: map[string]bool{}}
}

// Name is "redis-script".
func (s *Script) Name() string { return "redis-script" }

// Trigger plans the steps that are due at ev: at the first event, every
// leading step without On; at an event a step's On matches, that step and
// the steps without On that follow it.
func (s *Script) Trigger(_ *rand.Rand, ev history.Op, _ []string) []history.Op {
	var out []history.Op
	used := false
	if !s.started {
		// The first event of the run is offered before its operation is
		// performed, so every held client meets its gate.
		s.started = true
		s.holdClients()
	}
	if !ev.IsNemesis() && ev.F == idsGenerate && ev.Type != history.Invoke {
		s.since++
	}
	for s.next < len(s.steps) {
		st := s.steps[s.next]
		if st.On != nil {
			if used || !st.On.matches(ev, s.since) {
				break
			}
			used = true
		}
		out = append(out, s.plan(false))
	}
	return out
}

// Next returns the next step. Once the script is played out the last step
// holds the nemesis until the phase ends, so what Next returns after it is
// never applied. The gap before the first step is waited here, before its
// record opens; it is short (a scenario's first second at most) and changes
// nothing in the plan.
func (s *Script) Next(_ *rand.Rand, _ []string) history.Op {
	if s.next >= len(s.steps) {
		return history.Op{F: "script-end", Value: history.JSON(map[string]string{"script": s.name})}
	}
	return s.plan(true)
}

// plan returns the next step; wait sleeps the gap before a first step.
func (s *Script) plan(wait bool) history.Op {
	st := s.steps[s.next]
	if wait && s.next == 0 && st.After > 0 {
		time.Sleep(st.After)
	}
	v := StepValue{Step: s.next, After: st.After.String(), Cut: st.Cut, Client: st.Client, Replica: st.Replica,
		Skip: st.Skip, Primary: st.Primary, Releases: st.Releases}
	s.next++
	s.since = 0
	switch st.F {
	case "partition":
		s.cut = true
	case "heal":
		s.cut = false
	case "clock-jump":
		v.Offset = st.Offset.String()
		s.offsets[st.Node] = st.Offset
	case "kill":
		s.down[st.Node] = true
	case "start":
		s.down[st.Node] = false
	case "restart":
		v.Delay = st.Delay.String()
	case "client-pause":
		v.Pause = st.Pause.String()
	}
	return history.Op{F: st.F, Node: st.Node, Value: history.JSON(v)}
}

// Apply performs a step, then waits for the next step's turn.
func (s *Script) Apply(ctx context.Context, rt core.Runtime, op history.Op) history.Op {
	if op.F == "script-end" {
		return failed(op, fmt.Errorf("the script is over"))
	}
	var v StepValue
	if err := op.DecodeValue(&v); err != nil {
		return failed(op, fmt.Errorf("bad step: %w", err))
	}
	if v.Step == 0 && s.steps[0].After > 0 && s.steps[0].On == nil {
		_ = sleepCtx(ctx, s.steps[0].After)
	}
	done := s.apply(ctx, rt, op, v)
	for _, g := range s.gate(v.Step) {
		// Open even when the step's outcome is unknown: the client then
		// meets whatever state the step left.
		g.Open()
	}
	if v.Step >= 0 && v.Step+1 < len(s.steps) && s.steps[v.Step+1].On == nil {
		_ = sleepCtx(ctx, s.steps[v.Step+1].After)
	}
	return done
}

func (s *Script) apply(ctx context.Context, rt core.Runtime, op history.Op, v StepValue) history.Op {
	switch op.F {
	case "partition":
		return outcome(op, rt.Partition(ctx, v.Cut))
	case "heal":
		return outcome(op, rt.Heal(ctx))
	case "clock-jump", "clock-reset":
		off, _ := time.ParseDuration(v.Offset)
		return outcome(op, rt.SetClockOffset(ctx, op.Node, off))
	case "kill":
		if v.Replica != "" {
			caught := caughtUp(ctx, rt, op.Node, v.Replica, replicaWait)
			v.Replicated = &caught
			op.Value = history.JSON(v)
		}
		return outcome(op, rt.Kill(ctx, op.Node))
	case "start":
		return outcome(op, rt.Start(ctx, op.Node))
	case "restart":
		delay, _ := time.ParseDuration(v.Delay)
		if err := rt.Kill(ctx, op.Node); err != nil {
			return outcome(op, err)
		}
		_ = sleepCtx(ctx, delay)
		// Start even when the phase ended, so a restart never leaves a
		// node down.
		return outcome(op, rt.Start(context.WithoutCancel(ctx), op.Node))
	case "promote":
		a, err := rt.Addr("", op.Node, Port)
		if err != nil {
			return failed(op, err)
		}
		c := newRedisClient(a, 0)
		defer c.Close()
		if v.Skip > 0 {
			// Skip the range while the node is still a replica, which no
			// ID client uses: once it answers as a primary, its counter is
			// already past every ID the old primary may have handed out.
			if err := c.ConfigSet(ctx, "replica-read-only", "no").Err(); err != nil {
				return outcome(op, err)
			}
			if err := c.IncrBy(ctx, IDsKey, v.Skip).Err(); err != nil {
				return outcome(op, err)
			}
		}
		return outcome(op, c.Do(ctx, "REPLICAOF", "NO", "ONE").Err())
	case "replicaof":
		a, err := rt.Addr("", op.Node, Port)
		if err != nil {
			return failed(op, err)
		}
		pa, err := rt.Addr(op.Node, v.Primary, Port)
		if err != nil {
			return failed(op, err)
		}
		host, port := splitAddr(pa)
		c := newRedisClient(a, 0)
		defer c.Close()
		return outcome(op, c.Do(ctx, "REPLICAOF", host, port).Err())
	case "client-pause":
		return lock.ApplyPause(ctx, s.pauses, op)
	}
	return failed(op, fmt.Errorf("redis-script: unknown step %q", op.F))
}

// holdClients closes the gates of the clients steps release.
func (s *Script) holdClients() {
	if s.pauses == nil {
		return
	}
	s.gatesMu.Lock()
	defer s.gatesMu.Unlock()
	for i, st := range s.steps {
		for _, c := range st.Releases {
			if s.gates == nil {
				s.gates = map[int][]*lock.Gate{}
			}
			s.gates[i] = append(s.gates[i], s.pauses.Hold(c))
		}
	}
}

// gate takes the gates step releases.
func (s *Script) gate(step int) []*lock.Gate {
	s.gatesMu.Lock()
	defer s.gatesMu.Unlock()
	g := s.gates[step]
	delete(s.gates, step)
	return g
}

// HealOps heals the network, resets moved clocks and starts killed nodes.
// A client still held for a step that was never applied gives up its
// acquire, having sent nothing.
func (s *Script) HealOps(nodes []string) []history.Op {
	s.gatesMu.Lock()
	for i, gs := range s.gates {
		for _, g := range gs {
			g.Cancel(fmt.Sprintf("step %d (%s %s) of %s was not applied before the main phase ended", i, s.steps[i].F, s.steps[i].Node, s.name))
		}
	}
	s.gates = nil
	s.gatesMu.Unlock()
	var ops []history.Op
	if s.cut {
		ops = append(ops, history.Op{F: "heal", Value: history.JSON(StepValue{Step: -1, After: "0s"})})
		s.cut = false
	}
	for _, n := range sortedKeys(s.offsets) {
		if s.offsets[n] != 0 {
			ops = append(ops, history.Op{F: "clock-reset", Node: n, Value: history.JSON(StepValue{Step: -1, After: "0s", Offset: "0s"})})
			s.offsets[n] = 0
		}
	}
	for _, n := range sortedKeys(s.down) {
		if s.down[n] {
			ops = append(ops, history.Op{F: "start", Node: n, Value: history.JSON(StepValue{Step: -1, After: "0s"})})
			s.down[n] = false
		}
	}
	return ops
}

// Cut lists both directions between each endpoint of from and each node
// of to.
func Cut(from []string, to []string) []core.Link {
	var out []core.Link
	for _, f := range from {
		for _, t := range to {
			out = append(out, core.Link{From: f, To: t}, core.Link{From: t, To: f})
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// sleepCtx waits for d or ctx.
func sleepCtx(ctx context.Context, d time.Duration) error { return core.RealClock{}.Sleep(ctx, d) }

func failed(op history.Op, err error) history.Op {
	op.Type, op.Error = history.Fail, err.Error()
	return op
}

// outcome is ok on success and info otherwise: a runtime error leaves open
// whether the fault took effect, unless it says the runtime cannot do it at
// all (then it certainly did not happen).
func outcome(op history.Op, err error) history.Op {
	if errors.Is(err, core.ErrUnsupported) {
		return failed(op, err)
	}
	if err != nil {
		op.Type, op.Error = history.Info, err.Error()
		return op
	}
	op.Type = history.OK
	return op
}

// replicaWait bounds how long a kill waits for the replica: replication on
// one machine takes milliseconds once the replica has synced, but its first
// sync can take longer on a loaded machine; the anomaly run (replication
// cut) waits all of it and still kills the primary well inside c0's hold.
const replicaWait = time.Second

// caughtUp waits up to limit for replica to have applied everything primary
// has (its replication offset reaching the primary's), and says whether it
// did.
func caughtUp(ctx context.Context, rt core.Runtime, primary, replica string, limit time.Duration) bool {
	offset := func(node, field string) (int64, bool) {
		a, err := rt.Addr("", node, Port)
		if err != nil {
			return 0, false
		}
		c := newRedisClient(a, 200*time.Millisecond)
		defer c.Close()
		info, err := c.Info(ctx, "replication").Result()
		if err != nil {
			return 0, false
		}
		for _, line := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
				n, err := strconv.ParseInt(v, 10, 64)
				return n, err == nil
			}
		}
		return 0, false
	}
	deadline := time.Now().Add(limit)
	for {
		want, ok1 := offset(primary, "master_repl_offset")
		got, ok2 := offset(replica, "slave_repl_offset")
		if ok1 && ok2 && got >= want {
			return true
		}
		if time.Now().After(deadline) || sleepCtx(ctx, 20*time.Millisecond) != nil {
			return false
		}
	}
}
