package zookeeper_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/runtime/local"
	"github.com/chaostest/chaos/targets/zookeeper"
)

// setupEnsemble prepares three servers on the local runtime without starting
// them; they are torn down when t ends, and their logs kept when it fails.
func setupEnsemble(t *testing.T, startTimeout time.Duration) *local.Runtime {
	t.Helper()
	dir := keptDir(t)
	rt, err := local.New(local.WithStartTimeout(startTimeout))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := rt.Teardown(context.Background()); err != nil {
			t.Errorf("teardown: %v", err)
		}
	})
	tgt, err := zookeeper.New(core.Params{})
	if err != nil {
		t.Fatal(err)
	}
	specs, err := tgt.Nodes([]string{"n1", "n2", "n3"}, core.Params{})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Setup(context.Background(), dir, specs); err != nil {
		t.Fatal(err)
	}
	return rt
}

func startAll(t *testing.T, rt *local.Runtime, nodes ...string) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(nodes))
	for i, n := range nodes {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = rt.Start(context.Background(), n) }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// A server that starts after the others have elected a leader joins them,
// whatever its id. The lowest id is the hard case: every server it dials
// has a higher id and drops its connection to dial back, and a leader or
// follower that has finished its election dials nobody on its own.
func TestLateServerJoins(t *testing.T) {
	needZooKeeper(t)
	for _, late := range []string{"n1", "n2"} {
		t.Run(late, func(t *testing.T) {
			rt := setupEnsemble(t, 2*time.Minute)
			var early []string
			for _, n := range []string{"n1", "n2", "n3"} {
				if n != late {
					early = append(early, n)
				}
			}
			startAll(t, rt, early...)
			start := time.Now()
			startAll(t, rt, late)
			t.Logf("%s joined %s after its start", late, time.Since(start).Round(100*time.Millisecond))
		})
	}
}

// A killed server that is started again serves sessions again: it rejoins
// the ensemble that went on without it.
func TestKilledServerRejoins(t *testing.T) {
	needZooKeeper(t)
	rt := setupEnsemble(t, 2*time.Minute)
	startAll(t, rt, "n1", "n2", "n3")
	ctx := context.Background()
	for _, n := range []string{"n1", "n2"} {
		if err := rt.Kill(ctx, n); err != nil {
			t.Fatal(err)
		}
		if err := rt.Start(ctx, n); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(90 * time.Second)
		for {
			err := serves(t, rt, n, 5*time.Second)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s does not serve 90s after its restart: %v", n, err)
			}
		}
	}
}
