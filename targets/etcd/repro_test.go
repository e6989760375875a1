package etcd_test

import (
	"context"
	"math"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/chaostest/chaos/builtin"
	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/runtime/local"
	"github.com/chaostest/chaos/targets/etcd"
)

// firstViolation is when the earliest anomaly became evident: the latest
// record of its witness. ok is false when there is none.
func firstViolation(rs checkers.Results) (time.Duration, bool) {
	first := int64(math.MaxInt64)
	for _, n := range rs.Names() {
		for _, a := range rs.Checkers[n].Anomalies {
			var at int64
			for _, op := range a.Ops {
				at = max(at, op.Time)
			}
			first = min(first, at)
		}
	}
	return time.Duration(first), first != math.MaxInt64
}

// The named reproduction shows its anomaly with witnesses; its control, the
// fenced variant, shows none. Whether a pause strikes the member of the
// client that holds the lock, while it holds it, is a matter of timing: over
// seeds 1-10 one run in ten showed no violation within its 60 s. So the
// anomaly run may take a second, fixed seed before the test gives up.
func TestReproEtcdLockPause(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 60s scenarios")
	}
	s, err := builtin.New(etcd.Register).Scenario("etcd-lock-pause")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("anomaly", func(t *testing.T) {
		cfg := s.Config(false)
		// The violation needs a pause to land on the holder's path at the
		// right moment: seeds measured to show one early come next.
		seeds := []int64{cfg.Seed, 1, 3}
		for attempt, seed := range seeds {
			cfg.Seed = seed
			out := runScenario(t, cfg)
			t.Logf("seed %d: stats %+v\n%s", seed, out.Stats, verdict(t, out))
			if out.Results.Valid == checkers.Invalid {
				lr := out.Results.Checkers["lock-safety"]
				for _, a := range lr.Anomalies {
					if len(a.Ops) == 0 || a.Message == "" {
						t.Errorf("anomaly %s has no witness", a.Kind)
					}
				}
				if lr.AnomalyCounts["overlapping-holds"] == 0 && lr.AnomalyCounts["lost-update"] == 0 {
					t.Errorf("invalid without overlapping holds or lost updates: %v", lr.AnomalyCounts)
				}
				at, _ := firstViolation(out.Results)
				t.Logf("seed %d: first violation evident at %.1fs", seed, at.Seconds())
				return
			}
			if out.Results.Valid != checkers.Valid || attempt == len(seeds)-1 {
				t.Fatalf("seed %d: verdict %s, want invalid", seed, out.Results.Valid)
			}
			t.Logf("seed %d: no violation this time; trying seed %d", seed, seeds[attempt+1])
		}
	})
	t.Run("control", func(t *testing.T) {
		// Half the scenario's length keeps the test short; `chaos repro
		// etcd-lock-pause --control` runs all of it.
		cfg := s.Config(true)
		cfg.TimeLimit /= 2
		out := runScenario(t, cfg)
		t.Logf("stats %+v\n%s", out.Stats, verdict(t, out))
		if out.Results.Valid != checkers.Valid {
			t.Fatalf("control verdict %s, want valid", out.Results.Valid)
		}
		if n := out.Results.Checkers["lock-safety"].Counts["write-ok"]; n < 5 {
			t.Fatalf("control acknowledged only %d writes: nothing was exercised", n)
		}
	})
}

// BenchmarkLockPauseFirstViolation runs etcd-lock-pause on seeds 1..N
// (CHAOS_SEEDS, default 10) and reports how far into the run the first
// violation became evident: mean, median and worst over the seeds, and how
// many seeds showed none.
func BenchmarkLockPauseFirstViolation(b *testing.B) {
	n := 10
	if v, err := strconv.Atoi(os.Getenv("CHAOS_SEEDS")); err == nil && v > 0 {
		n = v
	}
	for b.Loop() {
		var firsts []float64
		none := 0
		for seed := 1; seed <= n; seed++ {
			cfg := etcd.LockPauseScenario().Config(false)
			cfg.Seed = int64(seed)
			cfg.NewRuntime = func() (core.Runtime, error) { return local.New() }
			cfg.Store = b.TempDir()
			p, err := core.Prepare(builtin.New(etcd.Register), cfg)
			if err != nil {
				b.Fatal(err)
			}
			out, err := core.Execute(context.Background(), p)
			if err != nil {
				b.Fatal(err)
			}
			at, ok := firstViolation(out.Results)
			if !ok {
				none++
				b.Logf("seed %d: no violation in %s", seed, cfg.TimeLimit)
				continue
			}
			b.Logf("seed %d: first violation at %.1fs (%v)", seed, at.Seconds(), out.Results.Checkers["lock-safety"].AnomalyCounts)
			firsts = append(firsts, at.Seconds())
		}
		sort.Float64s(firsts)
		if len(firsts) > 0 {
			sum := 0.0
			for _, f := range firsts {
				sum += f
			}
			b.ReportMetric(sum/float64(len(firsts)), "s-mean-first-violation")
			b.ReportMetric(firsts[len(firsts)/2], "s-median-first-violation")
			b.ReportMetric(firsts[len(firsts)-1], "s-worst-first-violation")
		}
		b.ReportMetric(float64(none), "seeds-without-violation")
	}
}
