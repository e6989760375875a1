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
}

// AimedRollback is the event-triggered clock rollback: once a node has
// answered ok for a while (it has issued IDs, say, up to time T), the next
// ok answer from it moves its clock back by more than that while, past T,
// into time it has already used. The plan is a pure function of the events:
// which node answered, and when.
type AimedRollback struct {
	After, By time.Duration
	Count     int

	firstOK int64 // time of the first ok answer; -1: none yet
	struck  map[string]bool
	skewed  marks
}

var (
	_ core.Nemesis   = (*AimedRollback)(nil)
	_ core.Triggered = (*AimedRollback)(nil)
)

// NewAimedRollback builds the nemesis from its params.
func NewAimedRollback(p core.Params) (core.Nemesis, error) {
	n := &AimedRollback{firstOK: -1, struck: map[string]bool{}}
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
	if n.After < 0 || n.By <= 0 || n.Count < 0 {
		return nil, fmt.Errorf("--aimed-rollback-by must be positive, --aimed-rollback-after and --aimed-rollback-count not negative")
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
// After, at most Count times and once per node.
func (n *AimedRollback) Trigger(_ *rand.Rand, ev history.Op, nodes []string) []history.Op {
	if ev.IsNemesis() || ev.Type != history.OK || ev.Node == "" {
		return nil
	}
	if n.firstOK < 0 {
		n.firstOK = ev.Time
	}
	limit := n.Count
	if limit == 0 {
		limit = len(nodes)
	}
	if len(n.struck) >= limit || n.struck[ev.Node] || ev.Time-n.firstOK < int64(n.After) {
		return nil
	}
	n.struck[ev.Node] = true
	off := -n.By
	v := ClockValue{Delta: off.String(), Offset: off.String(), OffsetNS: int64(off), MaxOffsetNS: int64(n.By)}
	return []history.Op{{F: "clock-rollback", Node: ev.Node, Value: history.JSON(v)}}
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
