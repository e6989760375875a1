package lock_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/workloads/gen"
	"github.com/chaostest/chaos/workloads/lock"
)

func drain(t *testing.T, g gen.Generator, seed int64, max int) []history.Op {
	t.Helper()
	c := &gen.Context{Rand: gen.NewRand(seed, "worker", 0)}
	var out []history.Op
	for len(out) < max {
		op, ok := g.Next(c)
		if !ok {
			break
		}
		out = append(out, op)
	}
	return out
}

func TestLockSetCycleAndScript(t *testing.T) {
	cfg, err := lock.ParseConfig(true, core.Params{"lock-attempts": "1,2", "lock-start": "0s,2s", "lock-retry": "300ms", "lock-hold": "1s"})
	if err != nil {
		t.Fatal(err)
	}
	w := lock.New(cfg)
	ops := drain(t, w.Generator(1), 1, 100)
	var fs []string
	for _, op := range ops {
		fs = append(fs, op.F)
		if op.Key != "chaos-lock" {
			t.Fatalf("op %v has key %q", op, op.Key)
		}
	}
	want := []string{"acquire", "read", "write", "release", "acquire", "read", "write", "release"}
	if !reflect.DeepEqual(fs, want) {
		t.Fatalf("ops %v, want %v", fs, want)
	}
	var a0, a1 lock.AcquireArgs
	_ = ops[0].DecodeValue(&a0)
	_ = ops[4].DecodeValue(&a1)
	if time.Duration(a0.Delay) != 2*time.Second || time.Duration(a1.Delay) != 300*time.Millisecond {
		t.Errorf("delays %v %v, want 2s then 300ms", a0.Delay, a1.Delay)
	}
	var r lock.ReadArgs
	_ = ops[1].DecodeValue(&r)
	if time.Duration(r.Hold) != time.Second {
		t.Errorf("scripted hold %v, want exactly 1s", time.Duration(r.Hold))
	}
	if n := len(drain(t, w.Generator(0), 1, 100)); n != 4 {
		t.Errorf("worker 0 made %d ops, want one cycle of 4", n)
	}
	if fin := w.Final([]string{"n1"}); len(fin) != 1 || fin[0].F != "read" {
		t.Errorf("final ops %v, want one read", fin)
	}
}

func TestGeneratorIsDeterministic(t *testing.T) {
	cfg, _ := lock.ParseConfig(true, core.Params{})
	a := drain(t, lock.New(cfg).Generator(3), 42, 200)
	b := drain(t, lock.New(cfg).Generator(3), 42, 200)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different ops")
	}
}

func TestBadParams(t *testing.T) {
	for _, p := range []core.Params{{"lock-ttl": "0s"}, {"lock-start": "soon"}, {"lock-attempts": "-1"}, {"lock-hold": "x"}} {
		if _, err := lock.ParseConfig(false, p); err == nil {
			t.Errorf("%v: no error", p)
		}
	}
}

// fakeLocker grants when free; mocks are fine in unit tests.
type fakeLocker struct {
	held  *bool
	fence *int64
}

func (f fakeLocker) Acquire(ctx context.Context, key string, ttl time.Duration) (lock.Grant, error) {
	if *f.held {
		return lock.Grant{}, lock.ErrNotGranted
	}
	*f.held = true
	*f.fence++
	n := *f.fence
	return lock.Grant{Token: "t", Fence: &n, Nodes: []string{"n1"}}, nil
}

func (f fakeLocker) Release(ctx context.Context, key string, g lock.Grant) ([]string, error) {
	if !*f.held {
		return nil, lock.ErrNotHeld
	}
	*f.held = false
	return []string{"n1"}, nil
}

func (fakeLocker) Close() error { return nil }

func TestClientContractAndFencing(t *testing.T) {
	held, fence := false, int64(0)
	rs := lock.NewResources(true)
	c0 := lock.NewClient(fakeLocker{&held, &fence}, "lock-set", "c0", lock.WithResources(rs))
	c1 := lock.NewClient(fakeLocker{&held, &fence}, "lock-set", "c1", lock.WithResources(rs))
	ctx := context.Background()
	do := func(c *lock.Client, f string, v any) history.Op {
		op := history.Op{F: f, Key: "k"}
		if v != nil {
			op.Value = history.JSON(v)
		}
		return c.Invoke(ctx, op)
	}
	if r := do(c1, "write", lock.WriteArgs{Add: 9}); r.Type != history.Fail {
		t.Fatalf("write without lock: %v", r)
	}
	if r := do(c0, "acquire", lock.AcquireArgs{}); r.Type != history.OK {
		t.Fatalf("acquire: %v", r)
	}
	var g lock.Grant
	_ = do(c0, "read", lock.ReadArgs{}) // c0 reads under fence 1
	if r := do(c1, "acquire", nil); r.Type != history.Fail {
		t.Fatalf("second acquire: %v", r)
	}
	held = false // c0's lease "expires"
	r := do(c1, "acquire", nil)
	_ = r.DecodeValue(&g)
	if g.Client != "c1" || g.Fence == nil || *g.Fence != 2 {
		t.Fatalf("grant %+v", g)
	}
	do(c1, "read", lock.ReadArgs{})
	if r := do(c1, "write", lock.WriteArgs{Add: 2}); r.Type != history.OK {
		t.Fatalf("c1 write: %v", r)
	}
	r = do(c0, "write", lock.WriteArgs{Add: 1})
	if r.Type != history.Fail || !strings.Contains(r.Error, "fencing") {
		t.Fatalf("stale write must be rejected: %v", r)
	}
	fin := do(c0, "read", lock.ReadArgs{Final: true})
	var rr lock.ReadResult
	_ = fin.DecodeValue(&rr)
	if !reflect.DeepEqual(rr.Set, []int64{2}) {
		t.Fatalf("final %v, want [2]", rr.Set)
	}
}
