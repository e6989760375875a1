package local_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaostest/chaos/builtin"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/runtime/local"
	"github.com/chaostest/chaos/targets/snowflake"
)

func TestMain(m *testing.M) {
	builtin.RunNodeIfRequested()
	os.Exit(m.Run())
}

func get(t *testing.T, url string, timeout time.Duration) (string, error) {
	t.Helper()
	c := http.Client{Timeout: timeout}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b)), err
}

// TestNodeLifecycle drives one real node through every fault the runtime
// offers.
func TestNodeLifecycle(t *testing.T) {
	ctx := context.Background()
	tgt, err := snowflake.New(core.Params{"snowflake-mode": "monotonic"})
	if err != nil {
		t.Fatal(err)
	}
	specs, err := tgt.Nodes([]string{"n1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := local.New(local.WithStartTimeout(20 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := rt.Setup(ctx, dir, specs); err != nil {
		t.Fatal(err)
	}
	defer rt.Teardown(ctx)
	if err := rt.Start(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	api, _ := rt.Addr("c0", "n1", "api")
	ctl, _ := rt.Addr("", "n1", "control")
	if _, err := get(t, "http://"+api+"/id", time.Second); err != nil {
		t.Fatalf("fresh node: %v", err)
	}

	if err := rt.SetClockOffset(ctx, "n1", -3*time.Second); err != nil {
		t.Fatal(err)
	}
	if off, err := get(t, "http://"+ctl+"/clock", time.Second); err != nil || off != "-3s" {
		t.Fatalf("clock offset %q %v", off, err)
	}

	if err := rt.Pause(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if _, err := get(t, "http://"+api+"/id", 300*time.Millisecond); err == nil {
		t.Fatal("a paused node answered")
	}
	if err := rt.Resume(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if _, err := get(t, "http://"+api+"/id", 2*time.Second); err != nil {
		t.Fatalf("resumed node: %v", err)
	}

	if err := rt.Kill(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if _, err := get(t, "http://"+api+"/id", 300*time.Millisecond); err == nil {
		t.Fatal("a killed node answered")
	}
	if err := rt.Start(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	// The offset survives the restart: a node killed behind comes back behind.
	if off, err := get(t, "http://"+ctl+"/clock", time.Second); err != nil || off != "-3s" {
		t.Fatalf("clock offset after restart %q %v", off, err)
	}

	if err := rt.Teardown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := rt.Teardown(ctx); err != nil {
		t.Fatalf("second teardown: %v", err)
	}
	if _, err := get(t, "http://"+api+"/id", 300*time.Millisecond); err == nil {
		t.Fatal("node still answers after teardown")
	}
	b, err := os.ReadFile(filepath.Join(dir, core.NodesDir, "n1.log"))
	if err != nil || !strings.Contains(string(b), "snowflake node") {
		t.Fatalf("node log: %q %v", b, err)
	}
}

func TestPartitionWithoutLinkLayerIsUnsupported(t *testing.T) {
	rt, err := local.New(local.WithLinkLayer(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Teardown(context.Background())
	if err := rt.Partition(context.Background(), []core.Link{{From: "n1", To: "n2"}}); err == nil {
		t.Fatal("partition without a link layer accepted")
	}
}

func TestStartFailureNamesTheNode(t *testing.T) {
	ctx := context.Background()
	rt, _ := local.New(local.WithStartTimeout(5 * time.Second))
	defer rt.Teardown(ctx)
	specs := []core.NodeSpec{{Name: "n1", Program: "/nonexistent/program"}}
	if err := rt.Setup(ctx, t.TempDir(), specs); err != nil {
		t.Fatal(err)
	}
	err := rt.Start(ctx, "n1")
	if err == nil || !strings.Contains(err.Error(), "n1") {
		t.Fatalf("err = %v", err)
	}
}

// TestInterruptedStartSaysSo: a start cut short by the caller (Ctrl-C) says
// it was interrupted, not that the node failed to get ready in time.
func TestInterruptedStartSaysSo(t *testing.T) {
	rt, err := local.New(local.WithStartTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Teardown(context.Background())
	never := func(ctx context.Context, addr func(string) (string, error)) error { return context.DeadlineExceeded }
	specs := []core.NodeSpec{{Name: "n1", Program: "sleep", Args: func(core.NodeEnv) []string { return []string{"60"} }, Ready: never}}
	if err := rt.Setup(context.Background(), t.TempDir(), specs); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(250*time.Millisecond, cancel)
	err = rt.Start(ctx, "n1")
	if err == nil || !strings.Contains(err.Error(), "interrupted") || strings.Contains(err.Error(), "not ready after") {
		t.Fatalf("Start = %v; want an error saying it was interrupted", err)
	}
}

// TestSetupGivesUniquePorts: hundreds of nodes get pairwise distinct ports
// (the kernel's port 0 hands the same port back now and then once it is
// closed), also across two runtimes of one process.
func TestSetupGivesUniquePorts(t *testing.T) {
	ctx := context.Background()
	seen := map[string]string{}
	for r := 0; r < 2; r++ {
		rt, err := local.New(local.WithLinkLayer(nil))
		if err != nil {
			t.Fatal(err)
		}
		defer rt.Teardown(ctx)
		var specs []core.NodeSpec
		for i := 1; i <= 300; i++ {
			specs = append(specs, core.NodeSpec{Name: fmt.Sprintf("n%d", i), Program: "true", Ports: []string{"api", "peer"}})
		}
		if err := rt.Setup(ctx, t.TempDir(), specs); err != nil {
			t.Fatal(err)
		}
		for _, s := range specs {
			for _, p := range s.Ports {
				a, err := rt.Addr("", s.Name, p)
				if err != nil {
					t.Fatal(err)
				}
				who := fmt.Sprintf("runtime %d %s/%s", r, s.Name, p)
				if prev, dup := seen[a]; dup {
					t.Fatalf("%s and %s were both given %s", prev, who, a)
				}
				seen[a] = who
			}
		}
	}
}

// A node port taken by another process between its reservation and the
// node's own bind: the node exits with "address already in use", and the
// runtime starts it again on a fresh port, with its links pointed there, so
// the address clients dial keeps working.
func TestNodeWhosePortWasTakenStartsOnAnother(t *testing.T) {
	ctx := context.Background()
	tgt, err := snowflake.New(core.Params{"snowflake-mode": "monotonic"})
	if err != nil {
		t.Fatal(err)
	}
	specs, err := tgt.Nodes([]string{"n1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := local.New(local.WithStartTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := rt.Setup(ctx, dir, specs); err != nil {
		t.Fatal(err)
	}
	defer rt.Teardown(ctx)
	api, _ := rt.Addr("c0", "n1", "api")
	direct, _ := rt.Addr("", "n1", "api")
	thief, err := net.Listen("tcp", direct)
	if err != nil {
		t.Fatal(err)
	}
	defer thief.Close()
	if err := rt.Start(ctx, "n1"); err != nil {
		t.Fatalf("start beside a taken port: %v", err)
	}
	if moved, _ := rt.Addr("", "n1", "api"); moved == direct {
		t.Fatalf("the node still has the taken port %s", direct)
	}
	if _, err := get(t, "http://"+api+"/id", 5*time.Second); err != nil {
		t.Fatalf("the client's address does not reach the moved node: %v", err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, core.NodesDir, "n1.log"))
	if !strings.Contains(string(b), "was taken; moving it to") {
		t.Errorf("the node log does not say the port moved:\n%s", b)
	}
}

// TestStartTimeoutQuotesTheLog: a node that is not ready in time is reported
// with the tail of its log since its last start, so the failure can be
// diagnosed after the run directory is gone.
func TestStartTimeoutQuotesTheLog(t *testing.T) {
	// Five seconds: the script's output must be in the log before the
	// timeout, also on a loaded machine.
	rt, err := local.New(local.WithStartTimeout(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Teardown(context.Background())
	never := func(ctx context.Context, addr func(string) (string, error)) error { return fmt.Errorf("no answer") }
	script := "for i in $(seq 1 100); do echo line $i; done; echo still electing; exec sleep 60"
	specs := []core.NodeSpec{{Name: "n1", Program: "sh", Args: func(core.NodeEnv) []string { return []string{"-c", script} }, Ready: never}}
	if err := rt.Setup(context.Background(), t.TempDir(), specs); err != nil {
		t.Fatal(err)
	}
	err = rt.Start(context.Background(), "n1")
	if err == nil {
		t.Fatal("Start of a node that is never ready succeeded")
	}
	msg := err.Error()
	for _, want := range []string{"not ready after 5s", "no answer", "line 62", "still electing"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "line 61\n") || strings.Contains(msg, "=== chaos: starting") {
		t.Errorf("error quotes more than the last 40 lines:\n%s", msg)
	}
}
