package nemesis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
)

// ReadIsolateParams are the read-isolate nemesis's flags.
var ReadIsolateParams = []core.Param{
	{Name: "read-isolate-after", Type: core.TypeDuration, Default: "1s", Usage: "how long reads answer ok (counted from the first ok read) before the first isolation strikes"},
	{Name: "read-isolate-hold", Type: core.TypeDuration, Default: "6s", Usage: "longest an isolation is held when no read of the isolated node comes after an acknowledged write of its key"},
	{Name: "read-isolate-gap", Type: core.TypeDuration, Default: "2s", Usage: "least time between a heal and the next isolation, so the member catches up"},
	{Name: "read-isolate-count", Type: core.TypeInt, Default: "2", Usage: "how many isolations to aim in a run (0: no limit)"},
}

// ReadIsolate is the event-triggered partition aimed at stale reads. When a
// client's read on a node completes ok, that node is cut off from every
// other node (its own clients still reach it), and the cut is held until
// the state that matters has been probed: a write (or compare-and-set) of
// the key that was read has been acknowledged by a client of another node,
// and a client of the isolated node has then read that key again and was
// answered with something other than the acknowledged value (or refused).
// A system that serves reads only with a quorum refuses or times out that
// read; one that serves them from the member's own state answers with what
// the member had when it was cut off, a stale read. If the isolated node
// answers with the acknowledged value, the write reached it before the cut
// took effect, and the isolation waits for the next acknowledged write. An
// isolation is never held past Hold.
//
// The plan is a pure function of the recorded client events (which node and
// key a read named, which writes were acknowledged, what the reads
// returned, and the records' times); the random source is not used.
type ReadIsolate struct {
	After, Hold, Gap time.Duration
	Count            int

	firstOK  int64 // time of the first ok read; -1: none yet
	struck   int
	healedAt int64 // time of the event that planned the last heal; -1: none

	// The isolation in place (node != "").
	node, key string
	since     int64         // time of the event that planned it
	invoked   map[int]int64 // invocation time of each open op
	acked     *int64        // the last acknowledged value of key written elsewhere
	ackedAt   int64         // when it was acknowledged
	probes    map[int]int64 // processes on node reading key, invoked after ackedAt: the value then acknowledged
}

var (
	_ core.Nemesis     = (*ReadIsolate)(nil)
	_ core.Triggered   = (*ReadIsolate)(nil)
	_ core.NodeChecker = (*ReadIsolate)(nil)
)

// NewReadIsolate builds the nemesis from its params.
func NewReadIsolate(p core.Params) (core.Nemesis, error) {
	n := &ReadIsolate{firstOK: -1, healedAt: -1, invoked: map[int]int64{}, probes: map[int]int64{}}
	var err error
	if n.After, err = p.Duration("read-isolate-after", time.Second); err != nil {
		return nil, err
	}
	if n.Hold, err = p.Duration("read-isolate-hold", 6*time.Second); err != nil {
		return nil, err
	}
	if n.Gap, err = p.Duration("read-isolate-gap", 2*time.Second); err != nil {
		return nil, err
	}
	if n.Count, err = p.Int("read-isolate-count", 2); err != nil {
		return nil, err
	}
	if n.After < 0 || n.Hold <= 0 || n.Gap < 0 || n.Count < 0 {
		return nil, fmt.Errorf("--read-isolate-hold must be positive, --read-isolate-after, --read-isolate-gap and --read-isolate-count not negative")
	}
	return n, nil
}

// Name is "read-isolate".
func (n *ReadIsolate) Name() string { return "read-isolate" }

// CheckNodes refuses a target without node processes.
func (n *ReadIsolate) CheckNodes(specs []core.NodeSpec) error {
	if len(specs) == 0 {
		return errNoNodes("cutting links")
	}
	return nil
}

// Next is never asked for: the fault is planned from events only.
func (n *ReadIsolate) Next(*rand.Rand, []string) history.Op {
	return history.Op{F: "read-isolate-unplanned"}
}

// Trigger isolates the node of an ok read, and heals once the isolated
// node has been read after a write of the key was acknowledged elsewhere.
func (n *ReadIsolate) Trigger(_ *rand.Rand, ev history.Op, nodes []string) []history.Op {
	if ev.IsNemesis() {
		return nil
	}
	if ev.Type == history.Invoke {
		n.invoked[ev.Process] = ev.Time
	}
	inv, open := n.invoked[ev.Process]
	if ev.Type.Completion() {
		delete(n.invoked, ev.Process)
	}
	if n.node == "" {
		return n.strike(ev, nodes)
	}
	if ev.Time-n.since >= int64(n.Hold) {
		return n.heal(ev)
	}
	if ev.Key != n.key {
		return nil
	}
	switch {
	case ev.Node != n.node && ev.Type == history.OK && open && inv > n.since && (ev.F == "write" || ev.F == "cas"):
		if v, ok := writtenValue(ev); ok {
			n.acked, n.ackedAt = &v, ev.Time
		}
	case ev.Node == n.node && ev.F == "read" && ev.Type == history.Invoke && n.acked != nil && ev.Time > n.ackedAt:
		n.probes[ev.Process] = *n.acked
	case ev.Node == n.node && ev.F == "read" && ev.Type.Completion():
		want, probing := n.probes[ev.Process]
		delete(n.probes, ev.Process)
		if !probing || ev.Type == history.Info {
			return nil
		}
		if got, ok := ev.ValueInt(); ev.Type == history.OK && ok && got == want {
			return nil // the write reached the node before the cut: wait for the next
		}
		return n.heal(ev)
	}
	return nil
}

// strike isolates the node of an ok read when one is due.
func (n *ReadIsolate) strike(ev history.Op, nodes []string) []history.Op {
	if ev.F != "read" || ev.Type != history.OK || ev.Node == "" || ev.Key == "" || len(nodes) < 2 {
		return nil
	}
	if n.firstOK < 0 {
		n.firstOK = ev.Time
	}
	if n.Count > 0 && n.struck >= n.Count || ev.Time-n.firstOK < int64(n.After) ||
		n.healedAt >= 0 && ev.Time-n.healedAt < int64(n.Gap) {
		return nil
	}
	ns := slices.Clone(nodes)
	sort.Strings(ns)
	if !slices.Contains(ns, ev.Node) {
		return nil
	}
	n.struck++
	n.node, n.key, n.since, n.acked = ev.Node, ev.Key, ev.Time, nil
	clear(n.probes)
	rest := without(ns, ev.Node)
	cut := append(between([]string{ev.Node}, rest), between(rest, []string{ev.Node})...)
	sortLinks(cut)
	v := PartitionValue{Topology: "isolate", Groups: [][]string{{ev.Node}, rest}, Cut: cut}
	return []history.Op{{F: "partition", Node: ev.Node, Value: history.JSON(v)}}
}

// heal ends the isolation in place.
func (n *ReadIsolate) heal(ev history.Op) []history.Op {
	node := n.node
	n.node, n.key, n.acked, n.healedAt = "", "", nil, ev.Time
	clear(n.probes)
	return []history.Op{{F: "heal", Node: node, Value: history.JSON(PartitionValue{Topology: "heal"})}}
}

// writtenValue is the value a write or a compare-and-set left in its key.
func writtenValue(op history.Op) (int64, bool) {
	if op.F == "write" {
		return op.ValueInt()
	}
	var v [2]int64
	if op.DecodeValue(&v) != nil {
		return 0, false
	}
	return v[1], true
}

// Apply cuts the isolated node off, or heals.
func (n *ReadIsolate) Apply(ctx context.Context, rt core.Runtime, op history.Op) history.Op {
	v, err := DecodePartitionValue(&op)
	if err != nil {
		return failed(op, fmt.Errorf("bad partition value: %w", err))
	}
	switch op.F {
	case "partition":
		if err := rt.Heal(ctx); err != nil {
			return indeterminate(op, err)
		}
		return outcome(op, rt.Partition(ctx, v.Cut))
	case "heal":
		if err := rt.Heal(ctx); err != nil {
			return indeterminate(op, err)
		}
		return ok(op)
	}
	return failed(op, fmt.Errorf("read-isolate: unknown fault %q", op.F))
}

// HealOps heals whenever an isolation was planned: a heal is idempotent,
// and the plan alone does not say what Apply put in place.
func (n *ReadIsolate) HealOps([]string) []history.Op {
	if n.struck == 0 {
		return nil
	}
	n.node = ""
	return []history.Op{{F: "heal", Value: history.JSON(PartitionValue{Topology: "heal"})}}
}
