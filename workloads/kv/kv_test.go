package kv

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/workloads/gen"
)

func TestNewRejectsBadParams(t *testing.T) {
	for _, p := range []core.Params{{"kv-keys": "0"}, {"kv-keys": "x"}, {"kv-read-ratio": "1.5"},
		{"kv-checkers": "convergence,magic"}, {"kv-checkers": ","}} {
		if _, err := New(p); err == nil {
			t.Errorf("%v accepted", p)
		}
	}
}

func TestValuesAreUniqueAcrossWorkers(t *testing.T) {
	w, err := New(core.Params{"kv-keys": "3", "kv-read-ratio": "0.3"})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	nodes := []string{"n1", "n2", "n3"}
	for worker := range 4 {
		g := w.Generator(worker)
		c := &gen.Context{Rand: rand.New(rand.NewPCG(1, uint64(worker))), Worker: worker, Nodes: nodes}
		for range 200 {
			op, ok := g.Next(c)
			if !ok || op.Node == "" || op.Key == "" {
				t.Fatalf("op %+v ok %v", op, ok)
			}
			if op.F == "write" {
				if seen[string(op.Value)] {
					t.Fatalf("value %s written twice", op.Value)
				}
				seen[string(op.Value)] = true
			}
		}
	}
	if fin := w.Final(nodes); len(fin) != 3 || fin[2].F != "dump" || fin[2].Node != "n3" {
		t.Fatalf("final ops %v", fin)
	}
}

func TestCheckersFollowTheParam(t *testing.T) {
	for spec, want := range map[string]int{"convergence": 1, "linearizable": 1, "convergence,linearizable": 2} {
		w, err := New(core.Params{"kv-checkers": spec})
		if err != nil {
			t.Fatal(err)
		}
		cs, _ := w.Checkers(&history.Header{})
		if len(cs) != want {
			t.Errorf("%s: %d checkers", spec, len(cs))
		}
	}
}

type seen struct{ fs []string }

func (s *seen) Name() string { return "seen" }
func (s *seen) Check(_ context.Context, h *history.File) checkers.Result {
	for _, op := range h.Ops {
		s.fs = append(s.fs, op.F)
	}
	return checkers.Result{Valid: checkers.Valid}
}

func TestOnlyKeepsNamedOpsAndFaults(t *testing.T) {
	s := &seen{}
	var ops []history.Op
	for i, f := range []string{"write", "dump", "read", "partition", "delete"} {
		p := i
		if f == "partition" {
			p = history.NemesisProcess
		}
		ops = append(ops, history.Op{Index: int64(2 * i), Process: p, Type: history.Invoke, F: f},
			history.Op{Index: int64(2*i + 1), Process: p, Type: history.Info, F: f})
	}
	h := &history.File{Ops: ops}
	Only(s, "read", "write").Check(context.Background(), h)
	if got := len(s.fs); got != 6 || s.fs[4] != "partition" {
		t.Fatalf("inner saw %v", s.fs)
	}
	if len(h.Ops) != 10 {
		t.Fatal("Only changed the history it was given")
	}
}

// The whole history must pair, not only what Only keeps: a process that
// invoked a dump and then a read without completing the dump is malformed
// even though the dump is dropped.
func TestOnlyRefusesAMalformedWholeHistory(t *testing.T) {
	s := &seen{}
	h := &history.File{Ops: []history.Op{
		{Index: 0, Process: 0, Type: history.Invoke, F: "dump"},
		{Index: 1, Process: 0, Type: history.Invoke, F: "read"},
		{Index: 2, Process: 0, Type: history.OK, F: "read"},
	}}
	if r := Only(s, "read", "write").Check(context.Background(), h); r.Valid != checkers.Unknown || len(s.fs) != 0 {
		t.Fatalf("got %s (%s), inner saw %v; want unknown before the inner checker runs", r.Valid, r.Error, s.fs)
	}
}
