package zookeeper_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chaostest/chaos/builtin"
	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/runtime/local"
	"github.com/chaostest/chaos/targets/zookeeper"
)

func TestMain(m *testing.M) {
	builtin.RunNodeIfRequested(zookeeper.Register)
	os.Exit(m.Run())
}

// needZooKeeper skips without ZooKeeper, except in CI, where its absence is
// a failure: .ci/setup.d/zookeeper.sh installs it.
func needZooKeeper(t *testing.T) {
	t.Helper()
	_, errJava := zookeeper.FindJava()
	_, errJar := zookeeper.Classpath("")
	if err := errJava; err != nil || errJar != nil {
		if err == nil {
			err = errJar
		}
		if os.Getenv("CI") != "" {
			t.Fatalf("CI without ZooKeeper: %v", err)
		}
		t.Skip(err)
	}
}

// runScenario runs cfg on the local runtime in a store of the test's own and
// checks that nothing of the servers is left afterwards: no JVM of this run,
// and the servers' data inside the run directory. A failed test keeps the
// store and prints the tail of every server's log.
func runScenario(t *testing.T, cfg core.Config) *core.Outcome {
	t.Helper()
	needZooKeeper(t)
	cfg.NewRuntime = func() (core.Runtime, error) { return local.New(local.WithStartTimeout(2 * time.Minute)) }
	cfg.Store = keptDir(t)
	p, err := core.Prepare(builtin.New(zookeeper.Register), cfg)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out, err := core.Execute(context.Background(), p)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	t.Logf("run took %s", time.Since(start).Round(100*time.Millisecond))
	if left := serverPIDs(t, cfg.Store); len(left) > 0 {
		t.Errorf("server processes left running after the run: %v", left)
	}
	if _, err := os.Stat(filepath.Join(out.Dir, core.NodesDir, "n1", "data", "myid")); err != nil {
		t.Errorf("server data is not inside the run directory: %v", err)
	}
	return out
}

// serverPIDs lists live processes whose command line names a file under
// store (every server's zoo.cfg is there).
func serverPIDs(t *testing.T, store string) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if strings.Contains(string(b), store) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func verdict(out *core.Outcome) string {
	var b strings.Builder
	for _, n := range out.Results.Names() {
		r := out.Results.Checkers[n]
		b.WriteString(n + ": " + r.Valid.String() + ": " + r.Summary + "\n")
		for i, a := range r.Anomalies {
			if i == 2 {
				break
			}
			b.WriteString("  " + a.Kind + ": " + a.Message + "\n")
		}
		if r.Error != "" {
			b.WriteString("  error: " + r.Error + "\n")
		}
	}
	return b.String()
}

// seeds are the scenario's own seed, or CHAOS_SCENARIO_SEEDS (comma
// separated) to try others.
func seeds(def int64) []int64 {
	var out []int64
	for _, s := range strings.Split(os.Getenv("CHAOS_SCENARIO_SEEDS"), ",") {
		if n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		out = []int64{def}
	}
	return out
}

// The named reproduction shows overlapping holds and a lost update with
// witnesses; its control, with fencing, shows none and rejects the stale
// write. The holder-pause fault strikes the holder of the first granted
// acquire when the acquire completes, so nothing depends on a timer.
func TestReproZKLockPause(t *testing.T) {
	s, err := builtin.New(zookeeper.Register).Scenario("zk-lock-pause")
	if err != nil {
		t.Fatal(err)
	}
	for _, seed := range seeds(s.Config(false).Seed) {
		t.Run("anomaly/seed="+strconv.FormatInt(seed, 10), func(t *testing.T) {
			cfg := s.Config(false)
			cfg.Seed = seed
			out := runScenario(t, cfg)
			t.Logf("stats %+v\n%s", out.Stats, verdict(out))
			if out.Results.Valid != checkers.Invalid {
				t.Fatalf("verdict %s, want invalid", out.Results.Valid)
			}
			lr := out.Results.Checkers["lock-safety"]
			for _, a := range lr.Anomalies {
				if len(a.Ops) == 0 || a.Message == "" {
					t.Errorf("anomaly %s has no witness", a.Kind)
				}
			}
			if lr.AnomalyCounts["overlapping-holds"] == 0 || lr.AnomalyCounts["lost-update"] == 0 {
				t.Errorf("want overlapping holds and a lost update: %v", lr.AnomalyCounts)
			}
		})
		t.Run("control/seed="+strconv.FormatInt(seed, 10), func(t *testing.T) {
			cfg := s.Config(true)
			cfg.Seed = seed
			out := runScenario(t, cfg)
			t.Logf("stats %+v\n%s", out.Stats, verdict(out))
			if out.Results.Valid != checkers.Valid {
				t.Fatalf("control verdict %s, want valid", out.Results.Valid)
			}
			lr := out.Results.Checkers["lock-safety"]
			if n := lr.Counts["write-ok"]; n < 2 {
				t.Fatalf("control acknowledged only %d writes: nothing was exercised (%v)", n, lr.Counts)
			}
		})
	}
}
