package core

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"sync"

	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/workloads/gen"
)

// Triggered is the optional ability of a nemesis to aim at the state that
// matters instead of hoping a timer hits it: "when an acquire completes ok,
// pause that holder", "when a node has issued IDs at time T, roll its clock
// back past T".
//
// The runner offers a Triggered nemesis every record of a client operation
// of the main phase (invocations and completions), one at a time and in
// history order, and
// applies the faults it returns at once, in order. The plan stays a pure
// function of the seed and the recorded events: Trigger may look only at rng
// (the run's own "trigger" stream), the events it was offered and its own
// earlier plans, never at outcomes of faults or at the wall clock. Each
// fault it plans is recorded with the event that fired it (see TriggerOf).
//
// A Triggered nemesis is planned only from events: the clock-driven
// schedule leaves it out.
type Triggered interface {
	Nemesis
	// Trigger is called with each client record (Index set) and returns the
	// faults to apply in answer, usually none. It must not block.
	Trigger(rng *rand.Rand, ev history.Op, nodes []string) []history.Op
}

// TriggerRef names the event that fired a triggered fault. The runner
// stores it under "trigger" in the fault's value, next to the nemesis's own
// fields, so the fault record says which op it answered.
type TriggerRef struct {
	Index   int64        `json:"index"`
	Process int          `json:"process"`
	Type    history.Type `json:"type"`
	F       string       `json:"f"`
	Node    string       `json:"node,omitempty"`
	Time    int64        `json:"time"`
}

// TriggerOf returns the event a fault record answered; ok is false for a
// fault planned on the clock.
func TriggerOf(op *history.Op) (TriggerRef, bool) {
	var v struct {
		Trigger *TriggerRef `json:"trigger"`
	}
	if len(op.Value) == 0 || json.Unmarshal(op.Value, &v) != nil || v.Trigger == nil {
		return TriggerRef{}, false
	}
	return *v.Trigger, true
}

// withTrigger adds "trigger" to a fault's value, which must be a JSON object
// or empty.
func withTrigger(value json.RawMessage, ev history.Op) json.RawMessage {
	ref := history.JSON(TriggerRef{Index: ev.Index, Process: ev.Process, Type: ev.Type, F: ev.F, Node: ev.Node, Time: ev.Time})
	v := bytes.TrimSpace(value)
	if len(v) == 0 || bytes.Equal(v, []byte("null")) || bytes.Equal(v, []byte("{}")) {
		return append(append([]byte(`{"trigger":`), ref...), '}')
	}
	if v[0] != '{' {
		// Not an object: keep the nemesis's value whole beside the trigger.
		return history.JSON(map[string]json.RawMessage{"trigger": ref, "value": v})
	}
	out := append([]byte(`{"trigger":`), ref...)
	out = append(out, ',')
	return append(out, v[1:]...)
}

// triggers is a run's event-triggered nemeses and the queue of the faults
// they planned.
type triggers struct {
	nemeses []Triggered
	plain   []Nemesis // the same nemeses, as the runner applies them
	rng     *rand.Rand
	nodes   []string

	mu     sync.Mutex // orders record+offer, so events arrive in history order
	queue  []triggered
	closed bool
	wake   chan struct{}
}

type triggered struct {
	n  Nemesis
	op history.Op
}

// newTriggers picks the Triggered nemeses of a run; nil when there are none.
func newTriggers(p *Prepared) *triggers {
	t := &triggers{rng: gen.NewRand(p.Config.Seed, "trigger", 0), nodes: p.Nodes, wake: make(chan struct{}, 1)}
	for _, n := range p.Nemeses {
		if tn, ok := n.(Triggered); ok {
			t.nemeses = append(t.nemeses, tn)
			t.plain = append(t.plain, n)
		}
	}
	if len(t.nemeses) == 0 {
		return nil
	}
	return t
}

// periodic lists the nemeses the clock schedule plans.
func periodic(ns []Nemesis) []Nemesis {
	var out []Nemesis
	for _, n := range ns {
		if _, ok := n.(Triggered); !ok {
			out = append(out, n)
		}
	}
	return out
}

// recordEvent records a client op's invocation or completion and offers it
// to the triggered nemeses, under one lock so that they see events in
// history order.
func (r *run) recordEvent(op history.Op) history.Op {
	t := r.triggers
	if t == nil {
		return r.record(op)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	rec := r.record(op)
	if t.closed {
		return rec
	}
	for i, n := range t.nemeses {
		for _, f := range n.Trigger(t.rng, rec, t.nodes) {
			f.Value = withTrigger(f.Value, rec)
			t.queue = append(t.queue, triggered{n: t.plain[i], op: f})
		}
	}
	if len(t.queue) > 0 {
		select {
		case t.wake <- struct{}{}:
		default:
		}
	}
	return rec
}

// triggerLoop applies triggered faults in the order they were planned until
// ctx ends; then it stops taking events, so the heal and the final phase
// fire nothing. A planned fault that was never applied is dropped: nemeses
// heal from what Apply did, not from plans.
func (r *run) triggerLoop(ctx context.Context) {
	t := r.triggers
	if t == nil {
		return
	}
	defer func() {
		t.mu.Lock()
		t.closed, t.queue = true, nil
		t.mu.Unlock()
	}()
	for {
		t.mu.Lock()
		var next *triggered
		if len(t.queue) > 0 {
			f := t.queue[0]
			t.queue = t.queue[1:]
			next = &f
		}
		t.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		if next != nil {
			r.applyFault(ctx, next.n, next.op, false)
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-t.wake:
		}
	}
}
