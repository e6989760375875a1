package zookeeper_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/runtime/local"
	"github.com/chaostest/chaos/targets/zookeeper"
)

// startEnsemble starts three servers on the local runtime and waits until
// each serves a session; they are torn down when tb ends, and their logs are
// kept when it fails.
func startEnsemble(tb testing.TB) *local.Runtime {
	tb.Helper()
	dir := keptDir(tb)
	rt, err := local.New(local.WithStartTimeout(2 * time.Minute))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := rt.Teardown(context.Background()); err != nil {
			tb.Errorf("teardown: %v", err)
		}
	})
	tgt, err := zookeeper.New(core.Params{})
	if err != nil {
		tb.Fatal(err)
	}
	nodes := []string{"n1", "n2", "n3"}
	specs, err := tgt.Nodes(nodes, core.Params{})
	if err != nil {
		tb.Fatal(err)
	}
	if err := rt.Setup(context.Background(), dir, specs); err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(nodes))
	for i, n := range nodes {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = rt.Start(context.Background(), n) }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			tb.Fatal(err)
		}
	}
	return rt
}

// serves reports whether a fresh session on node's own address (no link of
// the fault layer) answers a read within wait.
func serves(t *testing.T, rt *local.Runtime, node string, wait time.Duration) error {
	t.Helper()
	addr, err := rt.Addr("", node, zookeeper.PortClient)
	if err != nil {
		t.Fatal(err)
	}
	conn, _, err := zk.Connect([]string{addr}, 4*time.Second, zk.WithLogInfo(false), zk.WithLogger(nopLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	done := make(chan error, 1)
	go func() { _, _, err := conn.Exists("/"); done <- err }()
	select {
	case err := <-done:
		return err
	case <-time.After(wait):
		return fmt.Errorf("no answer from %s within %s (state %s)", node, wait, conn.State())
	}
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}

// Server-to-server traffic goes through the runtime's link layer: a server
// cut off from both others loses its quorum and stops serving, while the
// majority goes on; after the heal it serves again.
func TestPartitionCutsServerLinks(t *testing.T) {
	needZooKeeper(t)
	rt := startEnsemble(t)
	ctx := context.Background()
	var cut []core.Link
	for _, n := range []string{"n1", "n2"} {
		cut = append(cut, core.Link{From: "n3", To: n}, core.Link{From: n, To: "n3"})
	}
	if err := rt.Partition(ctx, cut); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	// A server that lost its quorum closes its sessions and refuses new
	// ones; it notices within syncLimit (12 ticks of 250ms) and an election.
	deadline := time.Now().Add(90 * time.Second)
	for serves(t, rt, "n3", 3*time.Second) == nil {
		if time.Now().After(deadline) {
			t.Fatal("n3 still serves 90s after it was cut off from n1 and n2")
		}
		time.Sleep(500 * time.Millisecond)
	}
	deadline = time.Now().Add(90 * time.Second)
	for {
		err := serves(t, rt, "n1", 5*time.Second)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the majority n1, n2 does not serve while n3 is cut off: %v", err)
		}
	}
	t.Logf("n3 stopped serving, n1 serves: %s after the cut", time.Since(start).Round(100*time.Millisecond))
	if err := rt.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(90 * time.Second)
	for {
		err := serves(t, rt, "n3", 5*time.Second)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("n3 does not serve again after the heal: %v", err)
		}
	}
	t.Logf("n3 serves again %s after the cut", time.Since(start).Round(100*time.Millisecond))
}

// BenchmarkEnsembleReady measures the time from starting three servers until
// each serves a client session, teardown excluded.
func BenchmarkEnsembleReady(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		rt, err := local.New(local.WithStartTimeout(2 * time.Minute))
		if err != nil {
			b.Fatal(err)
		}
		tgt, err := zookeeper.New(core.Params{})
		if err != nil {
			b.Fatal(err)
		}
		nodes := []string{"n1", "n2", "n3"}
		specs, _ := tgt.Nodes(nodes, core.Params{})
		if err := rt.Setup(context.Background(), b.TempDir(), specs); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		var wg sync.WaitGroup
		errs := make([]error, len(nodes))
		for i, n := range nodes {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = rt.Start(context.Background(), n) }()
		}
		wg.Wait()
		b.StopTimer()
		_ = rt.Teardown(context.Background())
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
	}
}
