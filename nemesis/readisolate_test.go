package nemesis

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
)

// events is a scripted client history for read-isolate: each call adds one
// record at the given second and returns what the nemesis planned for it.
type events struct {
	t   *testing.T
	n   core.Triggered
	idx int64
}

func (e *events) add(sec float64, proc int, typ history.Type, f, key, node string, v any) []history.Op {
	var raw json.RawMessage
	if v != nil {
		raw = history.JSON(v)
	}
	ev := history.Op{Index: e.idx, Process: proc, Type: typ, F: f, Key: key, Node: node, Value: raw, Time: int64(sec * float64(time.Second))}
	e.idx++
	return e.n.Trigger(nil, ev, nodes)
}

func (e *events) op(sec float64, proc int, typ history.Type, f, key, node string, v any) []history.Op {
	e.t.Helper()
	if out := e.add(sec, proc, history.Invoke, f, key, node, nil); len(out) > 0 {
		e.t.Fatalf("%s invoke at %.1fs planned %v", f, sec, out)
	}
	return e.add(sec+0.01, proc, typ, f, key, node, v)
}

// The isolation strikes the node of an ok read, cuts exactly that node off
// from the other nodes, and heals only once a read of the same key on the
// isolated node came after a write acknowledged elsewhere and returned
// something else.
func TestReadIsolateHoldsUntilTheStaleReadWasProbed(t *testing.T) {
	nem := newNemesis(t, infos()["read-isolate"], core.Params{"read-isolate-after": "1s", "read-isolate-count": "1"})
	e := &events{t: t, n: nem.(core.Triggered)}
	if out := e.op(0.1, 0, history.OK, "read", "r0", "n2", 5); len(out) > 0 {
		t.Fatalf("struck before read-isolate-after: %v", out)
	}
	out := e.op(1.2, 1, history.OK, "read", "r1", "n2", nil)
	if len(out) != 1 || out[0].F != "partition" || out[0].Node != "n2" {
		t.Fatalf("want n2 isolated, got %v", out)
	}
	v, err := DecodePartitionValue(&out[0])
	if err != nil || v.Topology != "isolate" || len(v.Cut) != 4 {
		t.Fatalf("isolation value %+v, %v", v, err)
	}
	for _, l := range v.Cut {
		if l.From != "n2" && l.To != "n2" {
			t.Fatalf("cut %v does not touch n2", l)
		}
	}
	// Other keys, and reads before any acknowledged write, change nothing.
	steps := []struct {
		sec       float64
		proc      int
		f, key, n string
		typ       history.Type
		value     any
	}{
		{1.3, 2, "write", "r0", "n1", history.OK, 7},
		{1.4, 1, "read", "r1", "n2", history.OK, nil},
		{1.5, 3, "write", "r1", "n2", history.Info, 8}, // the isolated node's own write
		{1.6, 2, "write", "r1", "n1", history.OK, 9},   // acknowledged elsewhere
		{1.7, 1, "read", "r0", "n2", history.OK, 5},    // another key
		{1.8, 1, "read", "r1", "n2", history.OK, 9},    // the write got there first
		{1.9, 0, "cas", "r1", "n3", history.OK, [2]int64{9, 10}},
	}
	for _, s := range steps {
		if out := e.op(s.sec, s.proc, s.typ, s.f, s.key, s.n, s.value); len(out) > 0 {
			t.Fatalf("%s %s on %s at %.1fs healed too early: %v", s.f, s.key, s.n, s.sec, out)
		}
	}
	out = e.op(2.0, 1, history.OK, "read", "r1", "n2", 9)
	if len(out) != 1 || out[0].F != "heal" {
		t.Fatalf("the stale read did not heal: %v", out)
	}
	// Count is spent: no second isolation, and the final heal is planned.
	if out := e.op(5, 1, history.OK, "read", "r1", "n2", 10); len(out) > 0 {
		t.Fatalf("struck past read-isolate-count: %v", out)
	}
	if hs := nem.HealOps(nodes); len(hs) != 1 || hs[0].F != "heal" {
		t.Fatalf("HealOps %v", hs)
	}
}

// A refused read heals too (a quorum read on the cut-off node), and an
// isolation is never held past read-isolate-hold; the next one waits for
// read-isolate-gap.
func TestReadIsolateHealsOnRefusalAndHold(t *testing.T) {
	nem := newNemesis(t, infos()["read-isolate"], core.Params{"read-isolate-after": "0s", "read-isolate-hold": "3s", "read-isolate-gap": "1s", "read-isolate-count": "0"})
	e := &events{t: t, n: nem.(core.Triggered)}
	if out := e.op(0, 0, history.OK, "read", "r0", "n1", nil); len(out) != 1 || out[0].Node != "n1" {
		t.Fatalf("want n1 isolated, got %v", out)
	}
	e.op(0.5, 1, history.OK, "write", "r0", "n3", 4)
	if out := e.op(0.6, 0, history.Fail, "read", "r0", "n1", nil); len(out) != 1 || out[0].F != "heal" {
		t.Fatalf("a refused read after the write did not heal: %v", out)
	}
	if out := e.op(1.2, 0, history.OK, "read", "r0", "n3", 4); len(out) > 0 {
		t.Fatalf("struck inside read-isolate-gap: %v", out)
	}
	if out := e.op(1.7, 0, history.OK, "read", "r0", "n3", 4); len(out) != 1 || out[0].Node != "n3" {
		t.Fatalf("want n3 isolated, got %v", out)
	}
	if out := e.add(4.8, 2, history.Invoke, "read", "r2", "n1", nil); len(out) != 1 || out[0].F != "heal" {
		t.Fatalf("held past read-isolate-hold: %v", out)
	}
	rt := &recorder{}
	for _, op := range nem.HealOps(nodes) {
		if done := nem.Apply(context.Background(), rt, op); done.Type != history.OK {
			t.Fatalf("%v: %s", op, done.Type)
		}
	}
	if len(rt.calls) != 1 || rt.calls[0] != "heal" {
		t.Fatalf("final heal: %v", rt.calls)
	}
}
