package etcd_test

import (
	"math"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/chaostest/chaos/builtin"
	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/internal/runtest"
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

// The named reproduction shows its anomaly with witnesses on its one seed;
// its control, the fenced variant, shows none. The holder-pause fault
// strikes the holder of an acquire when the acquire completes, so nothing
// depends on a timer landing at the right moment.
func TestReproEtcdLockPause(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two etcd clusters")
	}
	s, err := builtin.New(etcd.Register).Scenario("etcd-lock-pause")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("anomaly", func(t *testing.T) {
		cfg := s.Config(false)
		out := runScenario(t, cfg)
		t.Logf("seed %d: stats %+v\n%s", cfg.Seed, out.Stats, verdict(t, out))
		if out.Results.Valid != checkers.Invalid {
			t.Fatalf("seed %d: verdict %s, want invalid", cfg.Seed, out.Results.Valid)
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
		at, _ := firstViolation(out.Results)
		t.Logf("first violation evident at %.1fs", at.Seconds())
	})
	t.Run("control", func(t *testing.T) {
		out := runScenario(t, s.Config(true))
		t.Logf("stats %+v\n%s", out.Stats, verdict(t, out))
		if out.Results.Valid != checkers.Valid {
			t.Fatalf("control verdict %s, want valid", out.Results.Valid)
		}
		if n := out.Results.Checkers["lock-safety"].Counts["write-ok"]; n < 3 {
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
			cfg.Store = b.TempDir()
			out := runtest.Local(b, builtin.New(etcd.Register), cfg)
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
