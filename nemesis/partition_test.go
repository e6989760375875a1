package nemesis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/runtime/linkproxy"
)

func names(n int) []string {
	var out []string
	for i := 1; i <= n; i++ {
		out = append(out, fmt.Sprintf("n%d", i))
	}
	return out
}

// reach returns who can send to whom under a grudge.
func reach(ns []string, cut []core.Link) map[string]map[string]bool {
	c := map[core.Link]bool{}
	for _, l := range cut {
		c[l] = true
	}
	out := map[string]map[string]bool{}
	for _, x := range ns {
		out[x] = map[string]bool{}
		for _, y := range ns {
			out[x][y] = !c[core.Link{From: x, To: y}]
		}
	}
	return out
}

func plan(t *testing.T, topology string, n int, seed uint64) PartitionValue {
	t.Helper()
	op := Plan(rand.New(rand.NewPCG(seed, 1)), topology, names(n), linkproxy.Shape{Latency: time.Second, Loss: 0.5})
	v, err := DecodePartitionValue(&op)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestHalvesAreSymmetricAndComplete(t *testing.T) {
	for _, topo := range []string{"halves", "random-halves"} {
		for n := 2; n <= 7; n++ {
			v := plan(t, topo, n, 3)
			if len(v.Groups) != 2 || len(v.Groups[0])+len(v.Groups[1]) != n {
				t.Fatalf("%s n=%d: groups %v", topo, n, v.Groups)
			}
			if want := 2 * len(v.Groups[0]) * len(v.Groups[1]); len(v.Cut) != want {
				t.Fatalf("%s n=%d: %d links cut, want %d", topo, n, len(v.Cut), want)
			}
			r := reach(names(n), v.Cut)
			for _, a := range v.Groups[0] {
				for _, b := range v.Groups[1] {
					if r[a][b] || r[b][a] {
						t.Fatalf("%s: %s and %s still connected", topo, a, b)
					}
				}
			}
		}
	}
	if v := plan(t, "halves", 5, 1); !reflect.DeepEqual(v.Groups, [][]string{{"n1", "n2"}, {"n3", "n4", "n5"}}) {
		t.Fatalf("halves of 5: %v", v.Groups)
	}
}

func TestIsolateAndClients(t *testing.T) {
	op := Plan(rand.New(rand.NewPCG(1, 1)), "isolate", names(5), linkproxy.Shape{})
	v, _ := DecodePartitionValue(&op)
	if op.Node == "" || len(v.Cut) != 8 {
		t.Fatalf("isolate: node %q, cut %v", op.Node, v.Cut)
	}
	for _, l := range v.Cut {
		if l.From != op.Node && l.To != op.Node {
			t.Fatalf("isolate %s cut %v", op.Node, l)
		}
	}
	op = Plan(rand.New(rand.NewPCG(1, 1)), "clients", names(5), linkproxy.Shape{})
	v, _ = DecodePartitionValue(&op)
	want := []core.Link{{From: ClientsEndpoint, To: op.Node}, {From: op.Node, To: ClientsEndpoint}}
	sortLinks(want)
	if !reflect.DeepEqual(v.Cut, want) {
		t.Fatalf("clients: %v, want %v", v.Cut, want)
	}
}

func TestMajoritiesRing(t *testing.T) {
	for n := 3; n <= 9; n++ {
		v := plan(t, "majorities-ring", n, uint64(n))
		r := reach(names(n), v.Cut)
		views := map[string]bool{}
		for _, x := range names(n) {
			seen := 0
			for _, y := range names(n) {
				if r[x][y] != r[y][x] {
					t.Fatalf("n=%d: %s->%s not symmetric", n, x, y)
				}
				if r[x][y] {
					seen++
				}
			}
			if seen < n/2+1 {
				t.Fatalf("n=%d: %s sees %d nodes, less than a majority", n, x, seen)
			}
			views[fmt.Sprint(r[x])] = true
		}
		if n >= 5 && len(views) != n {
			t.Fatalf("n=%d: only %d distinct views", n, len(views))
		}
	}
}

func TestBridge(t *testing.T) {
	v := plan(t, "bridge", 5, 9)
	r := reach(names(5), v.Cut)
	bridge := v.Groups[0][len(v.Groups[0])-1]
	for _, x := range names(5) {
		if !r[bridge][x] || !r[x][bridge] {
			t.Fatalf("bridge %s cannot reach %s", bridge, x)
		}
	}
	if len(v.Cut) != 2*2*2 {
		t.Fatalf("bridge of 5 cut %d links: %v", len(v.Cut), v.Cut)
	}
}

func TestOneWay(t *testing.T) {
	v := plan(t, "one-way", 4, 2)
	r := reach(names(4), v.Cut)
	a, b := v.Groups[0], v.Groups[1]
	if r[a[0]][b[0]] || !r[b[0]][a[0]] {
		t.Fatalf("one-way: %v -> %v cut wrong: %v", a, b, v.Cut)
	}
}

func TestPlanIsDeterministic(t *testing.T) {
	run := func() []history.Op {
		p, err := NewPartition(core.Params{"partition-topologies": "halves,random-halves,isolate,majorities-ring,bridge,one-way,clients,slow,lossy"})
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(42, 7))
		var ops []history.Op
		for range 30 {
			ops = append(ops, p.Next(rng, names(5)))
		}
		return ops
	}
	a, b := run(), run()
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different plans")
	}
	for i, op := range a {
		if (i%2 == 1) != (op.F == "heal") {
			t.Fatalf("op %d is %s: faults and heals must alternate", i, op.F)
		}
	}
}

func TestNewPartitionRejectsBadParams(t *testing.T) {
	for _, p := range []core.Params{{"partition-topologies": "halves,moon"}, {"partition-topologies": " , "},
		{"partition-loss": "1"}, {"partition-latency": "-1s"}, {"partition-latency": "soon"}} {
		if _, err := NewPartition(p); err == nil {
			t.Errorf("%v accepted", p)
		}
	}
}

// linkRuntime records what the nemesis asks of the network.
type linkRuntime struct {
	core.Runtime
	cut    []core.Link
	shaped []core.Link
	heals  int
}

func (r *linkRuntime) Name() string { return "fake" }
func (r *linkRuntime) Partition(_ context.Context, cut []core.Link) error {
	r.cut = append(r.cut, cut...)
	return nil
}
func (r *linkRuntime) Heal(context.Context) error { r.cut, r.shaped = nil, nil; r.heals++; return nil }
func (r *linkRuntime) ShapeLinks(_ context.Context, ls []core.Link, _ linkproxy.Shape) error {
	r.shaped = append(r.shaped, ls...)
	return nil
}

func TestApplyAndHealOps(t *testing.T) {
	p, _ := NewPartition(core.Params{"partition-topologies": "halves,slow"})
	rt := &linkRuntime{}
	rng := rand.New(rand.NewPCG(1, 2))
	ctx := context.Background()
	for range 6 {
		op := p.Next(rng, names(4))
		done := p.Apply(ctx, rt, op)
		if done.Type != history.OK {
			t.Fatalf("%s: %s %s", op.F, done.Type, done.Error)
		}
		v, _ := DecodePartitionValue(&op)
		if !slices.Equal(rt.cut, v.Cut) || !slices.Equal(rt.shaped, v.Shaped) {
			t.Fatalf("%s: runtime cut %v shaped %v, record says %v %v", op.F, rt.cut, rt.shaped, v.Cut, v.Shaped)
		}
	}
	_ = p.Next(rng, names(4)) // a fault is now in place
	heal := p.HealOps(names(4))
	if len(heal) != 1 || heal[0].F != "heal" {
		t.Fatalf("HealOps = %v", heal)
	}
	if again := p.HealOps(names(4)); len(again) != 1 {
		t.Fatal("HealOps must always heal: a planned heal may never have run")
	}
	if done := p.Apply(ctx, struct{ core.Runtime }{rt}, history.Op{F: "slow", Value: history.JSON(PartitionValue{Shape: &linkproxy.Shape{}})}); done.Type != history.Fail {
		t.Fatalf("shaping on a runtime without the ability: %s", done.Type)
	}
}

// A runtime that says it cannot make a slow or lossy link makes the fault
// fail, as the packet nemesis's does: it certainly did not happen.
func TestShapeTheRuntimeCannotMakeFails(t *testing.T) {
	p, _ := NewPartition(core.Params{"partition-topologies": "slow,lossy"})
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2 {
		op := p.Next(rng, names(4))
		if op.F == "heal" {
			continue
		}
		got := p.Apply(context.Background(), &refusing{}, op)
		if got.Type != history.Fail || !strings.Contains(got.Error, "not supported") {
			t.Fatalf("%s on a runtime that cannot shape it: %s %q, want fail", op.F, got.Type, got.Error)
		}
	}
}
