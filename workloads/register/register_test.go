package register

import (
	"testing"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/workloads/gen"
)

func TestGeneratorWritesUniqueValues(t *testing.T) {
	w, err := New(core.Params{"register-keys": "2"})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	fs := map[string]int{}
	for worker := range 4 {
		g := w.Generator(worker)
		c := &gen.Context{Rand: gen.NewRand(1, "worker", worker), Worker: worker}
		for range 500 {
			op, ok := g.Next(c)
			if !ok {
				t.Fatal("generator ended")
			}
			fs[op.F]++
			if op.Key != "r0" && op.Key != "r1" {
				t.Fatalf("key %q outside the key space", op.Key)
			}
			var v int64
			switch op.F {
			case "read":
				if op.Value != nil {
					t.Fatalf("read with a value: %s", op.Value)
				}
				continue
			case "write":
				v, _ = op.ValueInt()
			case "cas":
				var ab [2]int64
				if err := op.DecodeValue(&ab); err != nil {
					t.Fatal(err)
				}
				v = ab[1]
			}
			if seen[v] || v == 0 {
				t.Fatalf("value %d written twice", v)
			}
			seen[v] = true
		}
	}
	if fs["read"] == 0 || fs["write"] == 0 || fs["cas"] == 0 {
		t.Fatalf("mix %v", fs)
	}
}

func TestGeneratorIsSeeded(t *testing.T) {
	w, _ := New(core.Params{})
	run := func() []history.Op {
		g := w.Generator(1)
		c := &gen.Context{Rand: gen.NewRand(9, "worker", 1), Worker: 1}
		var ops []history.Op
		for range 50 {
			op, _ := g.Next(c)
			ops = append(ops, op)
		}
		return ops
	}
	a, b := run(), run()
	for i := range a {
		if a[i].String() != b[i].String() {
			t.Fatalf("op %d differs: %s vs %s", i, a[i], b[i])
		}
	}
}

func TestNoCASAndFinal(t *testing.T) {
	w, err := New(core.Params{"register-cas": "false", "register-keys": "2"})
	if err != nil {
		t.Fatal(err)
	}
	g := w.Generator(0)
	c := &gen.Context{Rand: gen.NewRand(1, "worker", 0)}
	for range 200 {
		if op, _ := g.Next(c); op.F == "cas" {
			t.Fatal("cas generated with --register-cas=false")
		}
	}
	if m := w.(*Workload).Model(); m.Name != "kv-register" {
		t.Fatalf("model %s", m.Name)
	}
	final := w.Final([]string{"n1", "n2"})
	if len(final) != 4 || final[3].Node != "n2" || final[3].Key != "r1" || final[3].F != "read" {
		t.Fatalf("final %v", final)
	}
	cs, err := w.Checkers(&history.Header{})
	if err != nil || len(cs) != 1 || cs[0].Name() != "linearizable" {
		t.Fatalf("checkers %v %v", cs, err)
	}
}

func TestBadParams(t *testing.T) {
	for _, p := range []core.Params{{"register-keys": "0"}, {"register-keys": "x"}, {"register-cas": "maybe"},
		{"register-read-weight": "-1"}} {
		if _, err := New(p); err == nil {
			t.Errorf("%v accepted", p)
		}
	}
}
