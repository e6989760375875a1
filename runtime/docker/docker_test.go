package docker

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/chaostest/chaos/builtin"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/nemesis"
	"github.com/chaostest/chaos/runtime/linkproxy"
	"github.com/chaostest/chaos/targets/etcd"
	"github.com/chaostest/chaos/targets/postgres"
	"github.com/chaostest/chaos/targets/redis"
)

// The partition nemesis finds the lossy plan through this interface.
var _ nemesis.LinkShaper = (*Runtime)(nil)

// The test binary doubles as the node program of these tests: the runtime
// ships it into the image and starts it as `<binary> node probe ...`, or as
// any node program of the full catalog (builtin, etcd, Redis) for the scenario tests.
func TestMain(m *testing.M) {
	if os.Getenv(NodeMainEnv) == "1" && len(os.Args) > 2 && os.Args[1] == "node" && os.Args[2] == "probe" {
		if err := probeNode(os.Args[3:]); err != nil {
			fmt.Fprintln(os.Stderr, "probe node:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	builtin.RunNodeIfRequested(etcd.Register, redis.Register, postgres.Register)
	os.Exit(m.Run())
}

// probeNode serves GET /time (the node's clock, in Unix nanoseconds) and GET
// /get?addr=A (fetches A's /time, to test links between nodes) on its api
// port, and the clock control protocol on its control port.
func probeNode(args []string) error {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	name := fs.String("name", "", "")
	api := fs.String("api", "", "")
	control := fs.String("control", "", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	clock, err := core.NewNodeClock()
	if err != nil {
		return err
	}
	fmt.Printf("probe node %s listening on %s\n", *name, *api)
	mux := http.NewServeMux()
	mux.HandleFunc("/time", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %d\n", *name, clock.Now().UnixNano())
	})
	mux.HandleFunc("/get", func(w http.ResponseWriter, r *http.Request) {
		// Under the test's own 2 s, so a cut link answers 502 in time.
		c := http.Client{Timeout: 1500 * time.Millisecond}
		resp, err := c.Get("http://" + r.URL.Query().Get("addr") + "/time")
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		_, _ = io.Copy(w, resp.Body)
	})
	errc := make(chan error, 2)
	go func() { errc <- http.ListenAndServe(*api, mux) }()
	go func() { errc <- http.ListenAndServe(*control, clock.Handler()) }()
	return <-errc
}

func probeSpecs(names ...string) []core.NodeSpec {
	var out []core.NodeSpec
	for _, n := range names {
		out = append(out, core.NodeSpec{Name: n, Kind: "probe", Ports: []string{"api", "control"},
			Clock: core.ClockControl,
			Args: func(e core.NodeEnv) []string {
				return []string{"--name", e.Name, "--api", e.Listen("api"), "--control", e.Listen("control")}
			},
			Ready: func(ctx context.Context, addr func(string) (string, error)) error {
				a, err := addr("api")
				if err != nil {
					return err
				}
				_, err = httpGet(ctx, "http://"+a+"/time")
				return err
			}})
	}
	return out
}

// httpGet gives up after 2 s: a link that is cut never answers, and one
// that is not must not look cut because a loaded machine answered late.
func httpGet(ctx context.Context, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return strings.TrimSpace(string(b)), nil
}

// needDocker skips when no Docker engine answers, except in CI.
func needDocker(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cli, err := Connect(ctx)
	if err == nil {
		cli.Close()
		if os.Geteuid() == 0 {
			return
		}
		err = errors.New("not root: partitions need the containers' network namespaces")
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("docker runtime needs a Docker engine in CI: %v", err)
	}
	t.Skipf("SKIPPING DOCKER RUNTIME TEST: no usable Docker engine (%v); CI never skips this", err)
}

// ourLeftovers lists containers and networks of run run.
func ourLeftovers(t *testing.T, run string) []string {
	t.Helper()
	ctx := context.Background()
	cli, err := Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	f := make(client.Filters).Add("label", LabelRun+"="+run)
	var out []string
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs.Items {
		out = append(out, "container "+strings.Join(c.Names, ","))
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns.Items {
		out = append(out, "network "+n.Name)
	}
	return out
}

func nodeTime(t *testing.T, ctx context.Context, rt *Runtime, from, node string) (time.Duration, error) {
	t.Helper()
	a, err := rt.Addr(from, node, "api")
	if err != nil {
		t.Fatal(err)
	}
	s, err := httpGet(ctx, "http://"+a+"/time")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(s)
	ns, _ := strconv.ParseInt(f[len(f)-1], 10, 64)
	return time.Until(time.Unix(0, ns)), nil
}

func TestRuntimeFaults(t *testing.T) {
	needDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	timings := &Timings{}
	rt, err := New(ctx, WithTimings(timings))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "probe", "run1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	torn := false
	t.Cleanup(func() {
		if !torn {
			_ = rt.Teardown(context.Background())
		}
	})
	if err := rt.Setup(ctx, dir, probeSpecs("n1", "n2", "n3")); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		if err := rt.Start(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range timings.Builds {
		t.Logf("image %s built=%v in %s", b.Tag, b.Built, b.Took)
	}
	for i, d := range timings.Starts {
		t.Logf("node start %d: %s", i+1, d)
	}

	reach := func(from, to string) error {
		_, err := nodeTime(t, ctx, rt, from, to)
		return err
	}
	peer := func(from, to string) error {
		fa, _ := rt.Addr("", from, "api")
		ta, _ := rt.Addr(from, to, "api")
		_, err := httpGet(ctx, "http://"+fa+"/get?addr="+ta)
		return err
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		if err := reach("c0", n); err != nil {
			t.Fatalf("c0 cannot reach %s: %v", n, err)
		}
	}
	if err := peer("n1", "n2"); err != nil {
		t.Fatalf("n1 cannot reach n2: %v", err)
	}

	t.Run("clock", func(t *testing.T) {
		if err := rt.SetClockOffset(ctx, "n1", -time.Hour); err != nil {
			t.Fatal(err)
		}
		lag, err := nodeTime(t, ctx, rt, "c0", "n1")
		if err != nil || lag > -59*time.Minute || lag < -61*time.Minute {
			t.Fatalf("n1's clock: offset %s, %v; want about -1h", lag, err)
		}
		// A killed node comes back with its clock still moved.
		if err := rt.Kill(ctx, "n1"); err != nil {
			t.Fatal(err)
		}
		if err := reach("c0", "n1"); err == nil {
			t.Fatal("n1 answers after kill")
		}
		if err := rt.Start(ctx, "n1"); err != nil {
			t.Fatal(err)
		}
		lag, err = nodeTime(t, ctx, rt, "c0", "n1")
		if err != nil || lag > -59*time.Minute {
			t.Fatalf("n1's clock after restart: offset %s, %v; want about -1h", lag, err)
		}
		if err := rt.SetClockOffset(ctx, "n1", 0); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("pause", func(t *testing.T) {
		if err := rt.Pause(ctx, "n2"); err != nil {
			t.Fatal(err)
		}
		if err := reach("c0", "n2"); err == nil {
			t.Fatal("paused n2 answers")
		}
		if err := rt.Resume(ctx, "n2"); err != nil {
			t.Fatal(err)
		}
		if err := reach("c0", "n2"); err != nil {
			t.Fatalf("resumed n2 does not answer: %v", err)
		}
	})

	t.Run("partition", func(t *testing.T) {
		cut := []core.Link{{From: "n1", To: "n2"}, {From: "c0", To: "n3"}, {From: "n3", To: "c1"}}
		if err := rt.Partition(ctx, cut); err != nil {
			t.Fatal(err)
		}
		check := func(when string) {
			t.Helper()
			if err := peer("n1", "n2"); err == nil {
				t.Errorf("%s: n1 reaches n2 across the cut", when)
			}
			if err := peer("n3", "n2"); err != nil {
				t.Errorf("%s: n3 cannot reach n2: %v", when, err)
			}
			if err := reach("c0", "n3"); err == nil {
				t.Errorf("%s: c0 reaches n3 across the cut", when)
			}
			if err := reach("c1", "n3"); err == nil {
				t.Errorf("%s: c1 gets answers from n3 across the cut n3→c1", when)
			}
			if err := reach("c2", "n3"); err != nil {
				t.Errorf("%s: c2 cannot reach n3: %v", when, err)
			}
			if err := reach("c0", "n1"); err != nil {
				t.Errorf("%s: c0 cannot reach n1: %v", when, err)
			}
		}
		check("cut")
		// A restarted container gets a new namespace; the cut must hold.
		if err := rt.Kill(ctx, "n3"); err != nil {
			t.Fatal(err)
		}
		if err := rt.Start(ctx, "n3"); err != nil {
			t.Fatal(err)
		}
		check("after restart")
		if err := rt.Heal(ctx); err != nil {
			t.Fatal(err)
		}
		for _, c := range []string{"c0", "c1"} {
			if err := reach(c, "n3"); err != nil {
				t.Errorf("healed: %s cannot reach n3: %v", c, err)
			}
		}
		if err := peer("n1", "n2"); err != nil {
			t.Errorf("healed: n1 cannot reach n2: %v", err)
		}
	})

	t.Run("lossy", func(t *testing.T) {
		if err := rt.ShapeLinks(ctx, []core.Link{{From: "n1", To: "n2"}}, linkproxy.Shape{Duplicate: 0.1}); !errors.Is(err, core.ErrUnsupported) {
			t.Fatalf("duplicate: %v, want unsupported", err)
		}
		// 99.9% loss: the handshake does not get through in time.
		if err := rt.ShapeLinks(ctx, []core.Link{{From: "n1", To: "n2"}}, linkproxy.Shape{Loss: 0.999}); err != nil {
			t.Fatal(err)
		}
		if err := peer("n1", "n2"); err == nil {
			t.Error("n1 reaches n2 over a link losing 99.9% of packets")
		}
		if err := peer("n3", "n2"); err != nil {
			t.Errorf("n3 cannot reach n2: %v", err)
		}
		// 10% loss: most requests still make it.
		if err := rt.ShapeLinks(ctx, []core.Link{{From: "n1", To: "n2"}}, linkproxy.Shape{Loss: 0.1}); err != nil {
			t.Fatal(err)
		}
		okCount := 0
		for i := 0; i < 10; i++ {
			if peer("n1", "n2") == nil {
				okCount++
			}
		}
		if okCount < 5 {
			t.Errorf("only %d of 10 requests over a 10%% lossy link got through", okCount)
		}
		if err := rt.Heal(ctx); err != nil {
			t.Fatal(err)
		}
		if err := peer("n1", "n2"); err != nil {
			t.Errorf("healed: n1 cannot reach n2: %v", err)
		}
	})

	t.Run("slow", func(t *testing.T) {
		// Every packet n1 sends to n2 and c0 sends to n3 waits 300ms in
		// the receiver's queue: a request over either link takes at
		// least that (a lower bound only, so load cannot fail it).
		const lat = 300 * time.Millisecond
		if err := rt.ShapeLinks(ctx, []core.Link{{From: "n1", To: "n2"}, {From: "c0", To: "n3"}}, linkproxy.Shape{Latency: lat, Jitter: 10 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		timed := func(f func() error) (time.Duration, error) {
			start := time.Now()
			err := f()
			return time.Since(start), err
		}
		// httpGet gives up after 2s; a fresh connection over the slow
		// link needs about two delays (handshake, request).
		var took time.Duration
		var err error
		for i := 0; i < 20; i++ {
			if took, err = timed(func() error { return peer("n1", "n2") }); err == nil {
				break
			}
		}
		if err != nil || took < lat {
			t.Errorf("n1→n2 over a %s link: %s, %v", lat, took, err)
		}
		for i := 0; i < 20; i++ {
			if took, err = timed(func() error { return reach("c0", "n3") }); err == nil {
				break
			}
		}
		if err != nil || took < lat {
			t.Errorf("c0→n3 over a %s link: %s, %v", lat, took, err)
		}
		rt.mu.Lock()
		var seen int64
		for _, q := range rt.nodes["n2"].queues {
			seen += q.packets.Load()
		}
		rt.mu.Unlock()
		if seen == 0 {
			t.Error("n2's queue saw no packet")
		}
		if err := rt.Heal(ctx); err != nil {
			t.Fatal(err)
		}
		rt.mu.Lock()
		left := len(rt.nodes["n2"].queues) + len(rt.nodes["n3"].queues)
		rt.mu.Unlock()
		if left != 0 {
			t.Errorf("%d queues still bound after the heal", left)
		}
		if err := peer("n1", "n2"); err != nil {
			t.Errorf("healed: n1 cannot reach n2: %v", err)
		}
	})

	t.Run("restarted-behind-our-back", func(t *testing.T) {
		// A restart the runtime did not ask for gives n2 a new main
		// process and a new namespace: the next rule change must find
		// them, not the old pid's /proc entry.
		rt.mu.Lock()
		id := rt.nodes["n2"].container
		rt.mu.Unlock()
		secs := 1
		if _, err := rt.cli.ContainerRestart(ctx, id, client.ContainerRestartOptions{Timeout: &secs}); err != nil {
			t.Fatal(err)
		}
		if err := rt.Partition(ctx, []core.Link{{From: "n1", To: "n2"}}); err != nil {
			t.Fatalf("partition after the restart: %v", err)
		}
		deadline := time.Now().Add(time.Minute)
		for peer("n3", "n2") != nil || reach("c0", "n2") != nil {
			if time.Now().After(deadline) {
				t.Fatalf("restarted n2 not reachable from n3 and c0: %v / %v", peer("n3", "n2"), reach("c0", "n2"))
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err := peer("n1", "n2"); err == nil {
			t.Error("n1 reaches the restarted n2 across the cut")
		}
		if err := rt.Heal(ctx); err != nil {
			t.Fatal(err)
		}
		if err := peer("n1", "n2"); err != nil {
			t.Errorf("healed: n1 cannot reach n2: %v", err)
		}
	})

	// The network goes even while containers are attached to it (a
	// create sent by a killed harness completes late): their endpoints
	// are released first. Teardown then finds nothing to remove and
	// still succeeds.
	rt.mu.Lock()
	netID, netName := rt.netID, rt.netName
	rt.mu.Unlock()
	if err := removeNetwork(ctx, rt.cli, netID, netName, rt.run); err != nil {
		t.Fatalf("remove a network with live endpoints: %v", err)
	}

	run := rt.run
	if err := rt.Teardown(context.Background()); err != nil {
		t.Fatal(err)
	}
	torn = true
	if left := ourLeftovers(t, run); len(left) > 0 {
		t.Fatalf("teardown left %v", left)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "docker.log")); err == nil && testing.Verbose() {
		t.Logf("docker.log:\n%s", b)
	}
	b, err := os.ReadFile(filepath.Join(dir, core.NodesDir, "n1.log"))
	if err != nil || !strings.Contains(string(b), "probe node n1 listening") {
		t.Fatalf("n1.log: %v\n%s", err, b)
	}
}
