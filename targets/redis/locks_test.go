package redis

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/runtime/local"
	"github.com/chaostest/chaos/workloads/lock"
)

// cluster starts n real Redis nodes on the local runtime.
func cluster(t *testing.T, n int, p core.Params) (*local.Runtime, []string) {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server not found, and CI must not skip this test: run .ci/setup.d/redis.sh")
		}
		t.Skip("SKIPPED: redis-server not found (install it with sudo .ci/setup.d/redis.sh); CI never skips this")
	}
	tgt, err := New(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for i := 1; i <= n; i++ {
		names = append(names, "n"+string(rune('0'+i)))
	}
	specs, err := tgt.Nodes(names, p)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := local.New(local.WithLinkLayer(nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Teardown(context.Background()) })
	ctx := context.Background()
	if err := rt.Setup(ctx, t.TempDir(), specs); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if err := rt.Start(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	return rt, names
}

func conns(t *testing.T, rt *local.Runtime, names []string) []nodeConn {
	t.Helper()
	var cs []nodeConn
	for _, n := range names {
		a, err := rt.Addr("", n, Port)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, nodeConn{name: n, c: goredis.NewClient(&goredis.Options{Addr: a, MaxRetries: -1,
			ContextTimeoutEnabled: true, Protocol: 2, DisableIdentity: true})})
	}
	t.Cleanup(func() { _ = closeAll(cs) })
	return cs
}

func TestRedlockQuorumValidityAndRelease(t *testing.T) {
	rt, names := cluster(t, 5, core.Params{"redis-faketime": "no"})
	ctx := context.Background()
	ttl := 2 * time.Second
	a := &redlock{locker: locker{conns: conns(t, rt, names), tokens: tokenSource{prefix: "a"}}, nodeTimeout: 500 * time.Millisecond, drift: 0.01}
	b := &redlock{locker: locker{conns: conns(t, rt, names), tokens: tokenSource{prefix: "b"}}, nodeTimeout: 500 * time.Millisecond, drift: 0.01}

	g, err := a.Acquire(ctx, "k", ttl)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Nodes) != 5 || g.Validity <= 0 || time.Duration(g.Validity) > ttl-time.Duration(float64(ttl)*0.01) {
		t.Fatalf("grant %+v: want all 5 nodes and validity at most ttl - drift", g)
	}
	if _, err := b.Acquire(ctx, "k", ttl); !errors.Is(err, lock.ErrNotGranted) {
		t.Fatalf("second client: %v, want not granted", err)
	}
	if nodes, err := a.Release(ctx, "k", g); err != nil || len(nodes) != 5 {
		t.Fatalf("release: %v %v", nodes, err)
	}
	if _, err := a.Release(ctx, "k", g); !errors.Is(err, lock.ErrNotHeld) {
		t.Fatalf("second release: %v, want not held", err)
	}

	// With three nodes down there is no quorum, and what the two others
	// granted is given back at once.
	for _, n := range names[:3] {
		if err := rt.Kill(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Acquire(ctx, "k", ttl); !errors.Is(err, lock.ErrNotGranted) {
		t.Fatalf("without quorum: %v, want not granted", err)
	}
	for _, c := range a.conns[3:] {
		if err := c.c.Get(ctx, "k").Err(); !errors.Is(err, goredis.Nil) {
			t.Fatalf("%s still has the key after a failed acquire: %v", c.name, err)
		}
	}
}

func TestSingleLockFencingTokensGrow(t *testing.T) {
	rt, names := cluster(t, 1, core.Params{"redis-faketime": "no"})
	ctx := context.Background()
	s := &single{locker: locker{conns: conns(t, rt, names), tokens: tokenSource{prefix: "s"}}, fencing: true, probeTimeout: 500 * time.Millisecond}
	var last int64
	for i := 0; i < 3; i++ {
		g, err := s.Acquire(ctx, "k", time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if g.Fence == nil || *g.Fence <= last {
			t.Fatalf("fence %v after %d: want growing tokens", g.Fence, last)
		}
		last = *g.Fence
		if _, err := s.Acquire(ctx, "k", time.Second); !errors.Is(err, lock.ErrNotGranted) {
			t.Fatalf("held lock granted again: %v", err)
		}
		if _, err := s.Release(ctx, "k", g); err != nil {
			t.Fatal(err)
		}
	}
}
