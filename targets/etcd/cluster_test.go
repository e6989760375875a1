package etcd_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/chaostest/chaos/builtin"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/runtime/local"
	"github.com/chaostest/chaos/targets/etcd"
)

func TestMain(m *testing.M) {
	builtin.RunNodeIfRequested(etcd.Register)
	os.Exit(m.Run())
}

// cluster is a running etcd cluster on the local runtime.
type cluster struct {
	rt    *local.Runtime
	dir   string
	nodes []string
}

// startCluster starts n members and waits until every one is ready. The
// cluster is torn down when tb ends.
func startCluster(tb testing.TB, n int, opts ...local.Option) *cluster {
	tb.Helper()
	ctx := context.Background()
	rt, err := local.New(opts...)
	if err != nil {
		tb.Fatal(err)
	}
	c := &cluster{rt: rt, dir: tb.TempDir()}
	tb.Cleanup(func() {
		if err := rt.Teardown(context.Background()); err != nil {
			tb.Errorf("teardown: %v", err)
		}
	})
	tgt, err := etcd.New(core.Params{})
	if err != nil {
		tb.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		c.nodes = append(c.nodes, "n"+string(rune('0'+i)))
	}
	specs, err := tgt.Nodes(c.nodes, core.Params{})
	if err != nil {
		tb.Fatal(err)
	}
	if err := rt.Setup(ctx, c.dir, specs); err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, name := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = rt.Start(ctx, name)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			tb.Fatal(err)
		}
	}
	return c
}

func (c *cluster) client(tb testing.TB, node string) *clientv3.Client {
	tb.Helper()
	addr, err := c.rt.Addr("c0", node, "client")
	if err != nil {
		tb.Fatal(err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{addr}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cli.Close() })
	return cli
}

func TestClusterServesAndSurvivesKill(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if _, err := c.client(t, "n1").Put(ctx, "k", "v1"); err != nil {
		t.Fatalf("put through n1: %v", err)
	}
	got, err := c.client(t, "n3").Get(ctx, "k")
	if err != nil || len(got.Kvs) != 1 || string(got.Kvs[0].Value) != "v1" {
		t.Fatalf("linearizable read through n3 = %v, %v; want v1", got, err)
	}

	// A killed member comes back from its own data directory and rejoins.
	if err := c.rt.Kill(ctx, "n2"); err != nil {
		t.Fatal(err)
	}
	putEventually(t, c.client(t, "n1"), "k", "v2")
	if err := c.rt.Start(ctx, "n2"); err != nil {
		t.Fatalf("restart n2: %v", err)
	}
	got, err = c.client(t, "n2").Get(ctx, "k")
	if err != nil || len(got.Kvs) != 1 || string(got.Kvs[0].Value) != "v2" {
		t.Fatalf("read through restarted n2 = %v, %v; want v2", got, err)
	}

	// Every member keeps its data under the run's directory.
	for _, n := range c.nodes {
		if _, err := os.Stat(filepath.Join(c.dir, core.NodesDir, n, "etcd", "member")); err != nil {
			t.Errorf("member %s data dir: %v", n, err)
		}
	}
}

func TestTeardownLeavesNoMember(t *testing.T) {
	dir := ""
	var pids []int
	t.Run("run", func(t *testing.T) {
		c := startCluster(t, 3)
		dir = c.dir
		pids = memberPIDs(t, c.dir)
		if len(pids) != 3 {
			t.Fatalf("found %d member processes for %s, want 3", len(pids), c.dir)
		}
	})
	if left := memberPIDs(t, dir); len(left) > 0 {
		t.Fatalf("member processes still running after teardown: %v", left)
	}
}

// memberPIDs finds running processes whose command line names dir: the
// members of that cluster, since each gets its data directory in dir.
func memberPIDs(t *testing.T, dir string) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc to look for processes: %v", err)
	}
	var pids []int
	for _, e := range ents {
		pid := 0
		for _, r := range e.Name() {
			if r < '0' || r > '9' {
				pid = -1
				break
			}
			pid = pid*10 + int(r-'0')
		}
		if pid <= 0 {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if strings.Contains(string(b), dir) {
			if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && strings.Contains(string(st), ") Z ") {
				continue // a zombie has already exited
			}
			pids = append(pids, pid)
		}
	}
	return pids
}

// BenchmarkClusterReady measures the time from starting three members until
// all three are ready (each sees a leader and serves a linearizable read),
// teardown excluded.
func BenchmarkClusterReady(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		rt, err := local.New()
		if err != nil {
			b.Fatal(err)
		}
		tgt, _ := etcd.New(core.Params{})
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

// Member-to-member traffic goes through the runtime's link layer: cutting
// n3 off from n1 and n2 stops it from learning new writes, which a local
// (serializable) read on n3 shows, while a linearizable read there fails.
func TestPartitionCutsPeerLinks(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n1, n3 := c.client(t, "n1"), c.client(t, "n3")
	if _, err := n1.Put(ctx, "k", "before"); err != nil {
		t.Fatal(err)
	}
	// n3 has seen "before" once a linearizable read there returns it.
	if got, err := n3.Get(ctx, "k"); err != nil || string(got.Kvs[0].Value) != "before" {
		t.Fatalf("read on n3 = %v, %v", got, err)
	}
	var cut []core.Link
	for _, o := range []string{"n1", "n2"} {
		cut = append(cut, core.Link{From: o, To: "n3"}, core.Link{From: "n3", To: o})
	}
	if err := c.rt.Partition(ctx, cut); err != nil {
		t.Fatal(err)
	}
	putEventually(t, n1, "k", "after")
	got, err := n3.Get(ctx, "k", clientv3.WithSerializable())
	if err != nil || len(got.Kvs) != 1 || string(got.Kvs[0].Value) != "before" {
		t.Fatalf("serializable read on isolated n3 = %v, %v; want the stale value before", got, err)
	}
	rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
	_, err = n3.Get(rctx, "k")
	rcancel()
	if err == nil {
		t.Fatalf("linearizable read on isolated n3 succeeded; the partition did not cut peer traffic")
	}
	if err := c.rt.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		got, err := n3.Get(ctx, "k", clientv3.WithSerializable())
		if err == nil && string(got.Kvs[0].Value) == "after" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("n3 did not catch up after the heal: %v, %v", got, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// putEventually writes through cli, retrying while the majority elects a new
// leader: a proposal forwarded to a leader that died or was cut off is lost
// and times out.
func putEventually(t *testing.T, cli *clientv3.Client, key, val string) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_, err = cli.Put(ctx, key, val)
		cancel()
		if err == nil {
			return
		}
	}
	t.Fatalf("put %s=%s: %v", key, val, err)
}
