package nemesis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
)

// AimedRollbackParams are the aimed-rollback nemesis's flags.
var AimedRollbackParams = []core.Param{
	{Name: "aimed-rollback-after", Type: core.TypeDuration, Default: "1s", Usage: "how long a node answers ok before the aimed rollback strikes it (counted from the first ok answer)"},
	{Name: "aimed-rollback-by", Type: core.TypeDuration, Default: "1s", Usage: "how far the aimed rollback moves the node's clock back, past what it has just answered with"},
	{Name: "aimed-rollback-count", Type: core.TypeInt, Default: "1", Usage: "how many rollbacks to aim in a run, each at another node (0: one per node)"},
	{Name: "aimed-rollback-replay", Type: core.TypeDuration, Default: "0s", Usage: "for how long after the first rollback a struck node is rolled back again, each time it has run for --aimed-rollback-by, to the same moment (0: once)"},
}

// AimedRollback is the event-triggered clock rollback: once a node has
// answered ok for a while (it has issued IDs, say, up to time T), the next
// ok answer from it moves its clock back by more than that while, past T,
// into time it has already used. The plan is a pure function of the events:
// which node answered, and when.
//
// With Replay, a struck node is rolled back again each time it has run for
// By since the last rollback, to the moment the first rollback left it at,
// until Replay has passed since the first. A node's IDs meet the ones it
// issued before only where they fall in the same millisecond; a starved
// node issues few IDs a second, so one pass through used time may meet
// none. Each pass fills the replayed span further, so the chance that a
// pass meets a used millisecond grows with every pass instead of resting
// on how fast clients happen to be served.
type AimedRollback struct {
	After, By, Replay time.Duration
	Count             int

	firstOK int64 // time of the first ok answer; -1: none yet
	struck  map[string]*roll
	skewed  marks
}

// roll is when a node was first rolled back and when last.
type roll struct {
	first, last int64
	off         time.Duration // the offset the last rollback set
}

var (
	_ core.Nemesis   = (*AimedRollback)(nil)
	_ core.Triggered = (*AimedRollback)(nil)
)

// NewAimedRollback builds the nemesis from its params.
func NewAimedRollback(p core.Params) (core.Nemesis, error) {
	n := &AimedRollback{firstOK: -1, struck: map[string]*roll{}}
	var err error
	if n.After, err = p.Duration("aimed-rollback-after", time.Second); err != nil {
		return nil, err
	}
	if n.By, err = p.Duration("aimed-rollback-by", time.Second); err != nil {
		return nil, err
	}
	if n.Count, err = p.Int("aimed-rollback-count", 1); err != nil {
		return nil, err
	}
	if n.Replay, err = p.Duration("aimed-rollback-replay", 0); err != nil {
		return nil, err
	}
	if n.After < 0 || n.By <= 0 || n.Count < 0 || n.Replay < 0 {
		return nil, fmt.Errorf("--aimed-rollback-by must be positive, --aimed-rollback-after, --aimed-rollback-count and --aimed-rollback-replay not negative")
	}
	return n, nil
}

// Name is "aimed-rollback".
func (n *AimedRollback) Name() string { return "aimed-rollback" }

// Next is never asked for: the fault is planned from events only.
func (n *AimedRollback) Next(*rand.Rand, []string) history.Op {
	return history.Op{F: "aimed-rollback-unplanned"}
}

// Trigger rolls back the node of an ok answer once answers have come for
// After, at most Count times and once per node; with Replay, it rolls a
// struck node back again as described on AimedRollback.
func (n *AimedRollback) Trigger(_ *rand.Rand, ev history.Op, nodes []string) []history.Op {
	if ev.IsNemesis() || ev.Type != history.OK || ev.Node == "" {
		return nil
	}
	if n.firstOK < 0 {
		n.firstOK = ev.Time
	}
	if r := n.struck[ev.Node]; r != nil {
		if ev.Time-r.first > int64(n.Replay) || ev.Time-r.last < int64(n.By) {
			return nil
		}
		// The node's clock read T-By right after the first rollback (at
		// r.first); it has run on for ev.Time-r.first since.
		off := -n.By - time.Duration(ev.Time-r.first)
		op := rollbackOp(ev.Node, off, off-r.off)
		r.last, r.off = ev.Time, off
		return []history.Op{op}
	}
	limit := n.Count
	if limit == 0 {
		limit = len(nodes)
	}
	if len(n.struck) >= limit || ev.Time-n.firstOK < int64(n.After) {
		return nil
	}
	n.struck[ev.Node] = &roll{first: ev.Time, last: ev.Time, off: -n.By}
	return []history.Op{rollbackOp(ev.Node, -n.By, -n.By)}
}

// rollbackOp sets node's clock offset to off, a jump of delta.
func rollbackOp(node string, off, delta time.Duration) history.Op {
	v := ClockValue{Delta: delta.String(), Offset: off.String(), OffsetNS: int64(off), MaxOffsetNS: int64(-off)}
	return history.Op{F: "clock-rollback", Node: node, Value: history.JSON(v)}
}

// Apply moves the node's clock.
func (n *AimedRollback) Apply(ctx context.Context, rt core.Runtime, op history.Op) history.Op {
	v, err := DecodeClockValue(&op)
	if err != nil {
		return failed(op, fmt.Errorf("bad clock fault value: %w", err))
	}
	n.skewed.set(op.Node, true)
	if err := rt.SetClockOffset(ctx, op.Node, time.Duration(v.OffsetNS)); err != nil {
		return indeterminate(op, err)
	}
	n.skewed.set(op.Node, v.OffsetNS != 0)
	return ok(op)
}

// HealOps resets every clock this nemesis moved.
func (n *AimedRollback) HealOps([]string) []history.Op {
	var ops []history.Op
	for _, node := range n.skewed.list() {
		ops = append(ops, history.Op{F: "clock-reset", Node: node, Value: history.JSON(ClockValue{Offset: "0s"})})
	}
	return ops
}
