// Package nemesis holds the fault kinds. Each is a small type that plans its
// faults from the run's random stream (never from outcomes) and applies them
// only through core.Runtime, so the same nemesis works on every runtime.
package nemesis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
)

// ClockValue is the value of a clock fault record.
type ClockValue struct {
	// Delta is the jump this fault makes ("-2s"); for a strobe, its swing.
	Delta string `json:"delta,omitempty"`
	// Offset is the node's offset from host time once the fault is applied,
	// as a Go duration and in nanoseconds.
	Offset   string `json:"offset"`
	OffsetNS int64  `json:"offset_ns"`
	// Period and Duration describe a strobe.
	Period   string `json:"period,omitempty"`
	Duration string `json:"duration,omitempty"`
	// MaxOffsetNS is the largest absolute offset the node has while this
	// fault is in effect (a strobe swings beyond its final offset).
	MaxOffsetNS int64 `json:"max_offset_ns"`
}

// DecodeClockValue reads a clock fault record's value.
func DecodeClockValue(op *history.Op) (ClockValue, error) {
	var v ClockValue
	err := op.DecodeValue(&v)
	return v, err
}

// Clock faults move one node's clock: bump it forward, roll it back, strobe
// it back and forth, or reset it to host time.
type Clock struct {
	Bump, Rollback            time.Duration
	StrobeDelta, StrobePeriod time.Duration
	StrobeDuration            time.Duration

	offsets map[string]time.Duration // planned offset per node

	// skewed marks the nodes whose clock may be off now. A planned fault
	// may never be applied (the run ended first), so the heal works from
	// what Apply did, not from the plan.
	skewed marks
}

var _ core.Nemesis = (*Clock)(nil)

// ClockParams are the clock nemesis's flags.
var ClockParams = []core.Param{
	{Name: "clock-bump", Type: core.TypeDuration, Default: "2s", Usage: "how far the clock nemesis moves a node's clock forward"},
	{Name: "clock-rollback", Type: core.TypeDuration, Default: "2s", Usage: "how far the clock nemesis moves a node's clock back"},
	{Name: "clock-strobe-delta", Type: core.TypeDuration, Default: "500ms", Usage: "how far a clock strobe swings a node's clock"},
	{Name: "clock-strobe-period", Type: core.TypeDuration, Default: "20ms", Usage: "how often a clock strobe flips"},
	{Name: "clock-strobe-duration", Type: core.TypeDuration, Default: "1s", Usage: "how long a clock strobe lasts"},
}

// NewClock builds the clock nemesis from its params.
func NewClock(p core.Params) (core.Nemesis, error) {
	c := &Clock{offsets: map[string]time.Duration{}}
	for _, f := range []struct {
		name string
		dst  *time.Duration
	}{{"clock-bump", &c.Bump}, {"clock-rollback", &c.Rollback}, {"clock-strobe-delta", &c.StrobeDelta},
		{"clock-strobe-period", &c.StrobePeriod}, {"clock-strobe-duration", &c.StrobeDuration}} {
		d, err := p.Duration(f.name, 0)
		if err != nil {
			return nil, err
		}
		if d < 0 {
			return nil, fmt.Errorf("--%s %s: give a magnitude, not a sign", f.name, d)
		}
		*f.dst = d
	}
	if c.StrobePeriod <= 0 {
		return nil, fmt.Errorf("--clock-strobe-period must be positive")
	}
	return c, nil
}

// Name is "clock".
func (c *Clock) Name() string { return "clock" }

// Next plans one clock fault on a random node.
func (c *Clock) Next(rng *rand.Rand, nodes []string) history.Op {
	node := nodes[rng.IntN(len(nodes))]
	cur := c.offsets[node]
	var f string
	var v ClockValue
	switch k := rng.IntN(8); {
	case k < 3:
		f, v.Delta = "clock-rollback", (-c.Rollback).String()
		cur -= c.Rollback
	case k < 5:
		f, v.Delta = "clock-bump", c.Bump.String()
		cur += c.Bump
	case k < 7:
		f, v.Delta = "clock-strobe", c.StrobeDelta.String()
		v.Period, v.Duration = c.StrobePeriod.String(), c.StrobeDuration.String()
	default:
		f, cur = "clock-reset", 0
	}
	v.Offset, v.OffsetNS = cur.String(), int64(cur)
	v.MaxOffsetNS = abs(int64(cur))
	if f == "clock-strobe" {
		v.MaxOffsetNS = max(abs(int64(cur)), abs(int64(cur+c.StrobeDelta)))
	}
	c.offsets[node] = cur
	return history.Op{F: f, Node: node, Value: history.JSON(v)}
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// Apply moves the node's clock as planned.
func (c *Clock) Apply(ctx context.Context, rt core.Runtime, op history.Op) history.Op {
	v, err := DecodeClockValue(&op)
	if err != nil {
		return failed(op, fmt.Errorf("bad clock fault value: %w", err))
	}
	target := time.Duration(v.OffsetNS)
	was := c.skewed.has(op.Node)
	if target != 0 || op.F == "clock-strobe" {
		c.skewed.set(op.Node, true)
	}
	if op.F == "clock-strobe" {
		delta, _ := time.ParseDuration(v.Delta)
		period, _ := time.ParseDuration(v.Period)
		dur, _ := time.ParseDuration(v.Duration)
		err = strobe(ctx, rt, op.Node, target, delta, period, dur)
	} else {
		err = rt.SetClockOffset(ctx, op.Node, target)
	}
	if err != nil {
		if unsupported(err) {
			// The clock never moved; the node is as it was.
			c.skewed.set(op.Node, was)
			return failed(op, err)
		}
		return indeterminate(op, err)
	}
	c.skewed.set(op.Node, target != 0)
	return ok(op)
}

// strobe flips the clock between base and base+delta every period, ending on
// base. The flips happen through the runtime, so they are as fast as its
// control path allows.
func strobe(ctx context.Context, rt core.Runtime, node string, base, delta, period, dur time.Duration) error {
	deadline := time.Now().Add(dur)
	high := false
	for time.Now().Before(deadline) {
		high = !high
		off := base
		if high {
			off += delta
		}
		if err := rt.SetClockOffset(ctx, node, off); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return rt.SetClockOffset(context.WithoutCancel(ctx), node, base)
		case <-time.After(period):
		}
	}
	return rt.SetClockOffset(ctx, node, base)
}

// HealOps resets every clock this nemesis may have moved.
func (c *Clock) HealOps(nodes []string) []history.Op {
	clear(c.offsets)
	var ops []history.Op
	for _, n := range c.skewed.list() {
		ops = append(ops, history.Op{F: "clock-reset", Node: n, Value: history.JSON(ClockValue{Offset: "0s"})})
	}
	return ops
}

func ok(op history.Op) history.Op {
	op.Type = history.OK
	return op
}

// failed marks a fault that certainly was not applied.
func failed(op history.Op, err error) history.Op {
	op.Type, op.Error = history.Fail, err.Error()
	return op
}

// indeterminate marks a fault that may or may not have been applied. An
// error that says the runtime cannot do it at all (core.ErrUnsupported)
// makes it a failure: it certainly did not happen.
func indeterminate(op history.Op, err error) history.Op {
	if unsupported(err) {
		return failed(op, err)
	}
	op.Type, op.Error = history.Info, err.Error()
	return op
}
