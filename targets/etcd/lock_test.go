package etcd_test

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/targets/etcd"
	"github.com/chaostest/chaos/workloads/lock"
)

// lockSetClients opens two lock-set clients, on n1 and n2, of one target.
func lockSetClients(t *testing.T, c *cluster, variant string) (a, b core.Client) {
	t.Helper()
	tgt, err := etcd.New(core.Params{"etcd-lock-set": variant})
	if err != nil {
		t.Fatal(err)
	}
	open := func(i int, node string) core.Client {
		cl, err := tgt.NewClient(context.Background(), "lock-set", core.ClientConfig{
			Process: i, Endpoint: core.ClientEndpoint(i), Node: node, Nodes: c.nodes,
			Addr:      func(n, port string) (string, error) { return c.rt.Addr(core.ClientEndpoint(i), n, port) },
			OpTimeout: 5 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cl.Close() })
		return cl
	}
	return open(0, "n1"), open(1, "n2")
}

func invoke(t *testing.T, c core.Client, f string, v any) history.Op {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	op := history.Op{F: f, Key: "l", Type: history.Invoke}
	if v != nil {
		op.Value = history.JSON(v)
	}
	return c.Invoke(ctx, op)
}

func must(t *testing.T, op history.Op, want history.Type) history.Op {
	t.Helper()
	if op.Type != want {
		t.Fatalf("%s: got %s (%s), want %s", op.F, op.Type, op.Error, want)
	}
	return op
}

// expire ends a hold's lease from outside, as a lease running out while its
// holder is paused does.
func expire(t *testing.T, c *cluster, grant history.Op) {
	t.Helper()
	var g lock.Grant
	if err := json.Unmarshal(grant.Value, &g); err != nil {
		t.Fatal(err)
	}
	id, err := strconv.ParseInt(g.Token[strings.LastIndex(g.Token, "/")+1:], 16, 64)
	if err != nil {
		t.Fatalf("token %q does not end in a lease id: %v", g.Token, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.client(t, "n3").Revoke(ctx, clientv3.LeaseID(id)); err != nil {
		t.Fatal(err)
	}
}

func fence(t *testing.T, op history.Op) int64 {
	var g lock.Grant
	if err := json.Unmarshal(op.Value, &g); err != nil || g.Fence == nil {
		t.Fatalf("grant %s has no fence: %v", op.Value, err)
	}
	return *g.Fence
}

func finalSet(t *testing.T, c core.Client) []int64 {
	var r lock.ReadResult
	op := must(t, invoke(t, c, lock.FRead, lock.ReadArgs{Final: true}), history.OK)
	if err := json.Unmarshal(op.Value, &r); err != nil {
		t.Fatal(err)
	}
	return r.Set
}

// A holder whose lease ran out still writes the harness-held set and wipes
// out the update of the client that took the lock after it.
func TestHarnessSetLosesUpdateAfterLeaseExpiry(t *testing.T) {
	c := startCluster(t, 3)
	a, b := lockSetClients(t, c, "harness")
	ga := must(t, invoke(t, a, lock.FAcquire, lock.AcquireArgs{TTL: int64(2 * time.Second)}), history.OK)
	must(t, invoke(t, a, lock.FRead, lock.ReadArgs{}), history.OK)
	expire(t, c, ga)
	gb := must(t, invoke(t, b, lock.FAcquire, lock.AcquireArgs{TTL: int64(2 * time.Second)}), history.OK)
	if fence(t, gb) <= fence(t, ga) {
		t.Fatalf("later grant's fence %d is not above %d", fence(t, gb), fence(t, ga))
	}
	must(t, invoke(t, b, lock.FRead, lock.ReadArgs{}), history.OK)
	must(t, invoke(t, b, lock.FWrite, lock.WriteArgs{Add: 2}), history.OK)
	must(t, invoke(t, a, lock.FWrite, lock.WriteArgs{Add: 1}), history.OK)
	must(t, invoke(t, a, lock.FRelease, nil), history.Fail) // its key is gone
	must(t, invoke(t, b, lock.FRelease, nil), history.OK)
	if got := finalSet(t, b); !slices.Equal(got, []int64{1}) {
		t.Fatalf("final set %v, want [1]: b's acknowledged 2 overwritten", got)
	}
}

// With the set in etcd, the same stale write is rejected by the transaction
// guarded on the lock key's revision, and nothing is lost.
func TestFencedSetRejectsWriteAfterLeaseExpiry(t *testing.T) {
	c := startCluster(t, 3)
	a, b := lockSetClients(t, c, "fenced")
	ga := must(t, invoke(t, a, lock.FAcquire, lock.AcquireArgs{TTL: int64(2 * time.Second)}), history.OK)
	var g lock.Grant
	_ = json.Unmarshal(ga.Value, &g)
	if g.Validity <= 0 || time.Duration(g.Validity) > 2100*time.Millisecond {
		t.Fatalf("fenced grant's validity %s, want about the 2s lease or less", time.Duration(g.Validity))
	}
	must(t, invoke(t, a, lock.FRead, lock.ReadArgs{}), history.OK)
	expire(t, c, ga)
	must(t, invoke(t, b, lock.FAcquire, lock.AcquireArgs{TTL: int64(2 * time.Second)}), history.OK)
	must(t, invoke(t, b, lock.FRead, lock.ReadArgs{}), history.OK)
	must(t, invoke(t, b, lock.FWrite, lock.WriteArgs{Add: 2}), history.OK)
	w := must(t, invoke(t, a, lock.FWrite, lock.WriteArgs{Add: 1}), history.Fail)
	if !strings.Contains(w.Error, "rejected") {
		t.Fatalf("stale write failed for another reason: %s", w.Error)
	}
	must(t, invoke(t, b, lock.FRelease, nil), history.OK)
	if got := finalSet(t, b); !slices.Equal(got, []int64{2}) {
		t.Fatalf("final set %v, want [2]", got)
	}
}

// TestLockReturnsWhenMemberDiesDuringWait kills the member a client is
// waiting on inside concurrency.Mutex.Lock. Lock's own clean-up after a
// failed wait deletes its waiter key under the client's context, which no
// operation timeout ends; the acquire must still complete within its
// timeout plus the locker's grace, as info or fail.
func TestLockReturnsWhenMemberDiesDuringWait(t *testing.T) {
	c := startCluster(t, 1)
	tgt, err := etcd.New(core.Params{})
	if err != nil {
		t.Fatal(err)
	}
	const opTimeout = 2 * time.Second
	open := func(i int) core.Client {
		cl, err := tgt.NewClient(context.Background(), "lock", core.ClientConfig{
			Process: i, Endpoint: core.ClientEndpoint(i), Node: "n1", Nodes: c.nodes,
			Addr:      func(n, port string) (string, error) { return c.rt.Addr(core.ClientEndpoint(i), n, port) },
			OpTimeout: opTimeout,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cl.Close() })
		return cl
	}
	holder, waiter := open(0), open(1)
	must(t, invoke(t, holder, lock.FAcquire, lock.AcquireArgs{TTL: int64(time.Minute)}), history.OK)

	type result struct {
		op      history.Op
		elapsed time.Duration
	}
	got := make(chan result, 1)
	start := time.Now()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		op := waiter.Invoke(ctx, history.Op{F: lock.FAcquire, Key: "l", Type: history.Invoke,
			Value: history.JSON(lock.AcquireArgs{TTL: int64(time.Minute)})})
		got <- result{op, time.Since(start)}
	}()
	time.Sleep(opTimeout / 4) // the waiter is inside Lock, waiting for the holder's key
	if err := c.rt.Kill(context.Background(), "n1"); err != nil {
		t.Fatal(err)
	}
	// Bound: the op timeout, the locker's grace (1 s), its wait after
	// closing (1 s) and the failed acquire's revoke (skipped when closed),
	// with room for a loaded machine.
	select {
	case r := <-got:
		if r.op.Type != history.Info && r.op.Type != history.Fail {
			t.Fatalf("acquire against a killed member: %s (%s), want info or fail", r.op.Type, r.op.Error)
		}
		t.Logf("acquire ended %s after %s: %s", r.op.Type, r.elapsed.Round(time.Millisecond), r.op.Error)
	case <-time.After(opTimeout + 20*time.Second):
		t.Fatal("acquire against a killed member did not return")
	}
}
