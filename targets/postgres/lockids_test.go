package postgres_test

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chaostest/chaos/builtin"
	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/internal/runtest"
	"github.com/chaostest/chaos/targets/postgres"
)

// scenarioSeeds are the seeds a scenario test plays: the scenario's own,
// and any in CHAOS_SCENARIO_SEEDS (comma-separated).
func scenarioSeeds(t *testing.T) []int64 {
	seeds := []int64{0}
	for _, f := range strings.Split(os.Getenv("CHAOS_SCENARIO_SEEDS"), ",") {
		if f = strings.TrimSpace(f); f != "" {
			n, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				t.Fatalf("CHAOS_SCENARIO_SEEDS: %q is not a seed", f)
			}
			seeds = append(seeds, n)
		}
	}
	return seeds
}

// playScenario runs a named scenario (seed 0: its own) and returns the
// outcome.
func playScenario(t *testing.T, name string, control bool, seed int64) *core.Outcome {
	t.Helper()
	reg := builtin.New(postgres.Register)
	sc, err := reg.Scenario(name)
	if err != nil {
		t.Fatal(err)
	}
	cfg := sc.Config(control)
	if seed != 0 {
		cfg.Seed = seed
	}
	cfg.Store = t.TempDir()
	out := runtest.Local(t, reg, cfg)
	if b, _ := exec.Command("pgrep", "-f", out.Dir).Output(); strings.TrimSpace(string(b)) != "" {
		t.Fatalf("processes of the run left running: %s", b)
	}
	return out
}

// eachRun plays the scenario and its control on every seed.
func eachRun(t *testing.T, name string, check func(t *testing.T, control bool, out *core.Outcome)) {
	needPostgres(t)
	for _, seed := range scenarioSeeds(t) {
		for _, control := range []bool{false, true} {
			t.Run(map[bool]string{false: "anomaly", true: "control"}[control]+"-seed"+strconv.FormatInt(seed, 10), func(t *testing.T) {
				out := playScenario(t, name, control, seed)
				check(t, control, out)
			})
		}
	}
}

func verdict(t *testing.T, out *core.Outcome, checker string, want checkers.Validity) checkers.Result {
	t.Helper()
	r, ok := out.Results.Checkers[checker]
	if !ok {
		t.Fatalf("no %s result among %v", checker, out.Results.Names())
	}
	if r.Valid != want {
		t.Fatalf("%s: verdict %s, want %s: %s %s", checker, r.Valid, want, r.Summary, r.Error)
	}
	if want == checkers.Invalid {
		for _, a := range r.Anomalies {
			if a.Message == "" || len(a.Ops) == 0 {
				t.Fatalf("anomaly without a witness: %+v", a)
			}
		}
	}
	t.Log(r.Summary)
	return r
}

// TestRowLockHolderCrash: without expiry the dead holder's row stays and
// nobody takes the lock again (lock-stuck); with expiry another does.
func TestRowLockHolderCrash(t *testing.T) {
	eachRun(t, "postgres-lock-holder-crash", func(t *testing.T, control bool, out *core.Outcome) {
		verdict(t, out, "lock-safety", checkers.Valid)
		if control {
			r := verdict(t, out, "lock-liveness", checkers.Valid)
			if r.Counts["recovered"] != 1 {
				t.Fatalf("control: the lock was not taken again: %v", r.Counts)
			}
			return
		}
		r := verdict(t, out, "lock-liveness", checkers.Invalid)
		a := r.Anomalies[0]
		if a.Kind != "lock-stuck" || a.Fault == nil || a.Fault.F != "holder-crash" || !strings.Contains(a.Message, "none succeeded") {
			t.Fatalf("weak witness: %s %s (fault %v)", a.Kind, a.Message, a.Fault)
		}
		t.Log(a.Message)
	})
}

// TestRowLockPause: with expiry and no fencing the woken holder's write
// lands after its lease and loses the next holder's; fencing rejects it.
func TestRowLockPause(t *testing.T) {
	eachRun(t, "postgres-lock-pause", func(t *testing.T, control bool, out *core.Outcome) {
		if control {
			r := verdict(t, out, "lock-safety", checkers.Valid)
			if r.Counts["write-fail"] == 0 {
				t.Fatalf("control: no stale write was rejected: %v", r.Counts)
			}
			return
		}
		r := verdict(t, out, "lock-safety", checkers.Invalid)
		if r.AnomalyCounts["lost-update"] == 0 || r.AnomalyCounts["write-after-validity"] == 0 {
			t.Fatalf("want a lost update and a write after validity: %v", r.AnomalyCounts)
		}
		for _, a := range r.Anomalies {
			if a.Fault == nil {
				t.Fatalf("witness without the fault before: %s", a.Message)
			}
		}
		t.Log(r.Anomalies[0].Message)
	})
}

// TestAutoincThirdNode: a third server with offset 3 and step 2 issues the
// first's IDs; with step 3 everywhere nothing collides, kills included.
func TestAutoincThirdNode(t *testing.T) {
	eachRun(t, "postgres-autoinc-third-node", func(t *testing.T, control bool, out *core.Outcome) {
		if out.Stats.Faults == 0 {
			t.Fatalf("no fault was injected: %+v", out.Stats)
		}
		if control {
			verdict(t, out, "ids", checkers.Valid)
			return
		}
		r := verdict(t, out, "ids", checkers.Invalid)
		if r.AnomalyCounts["duplicate-id"] == 0 || len(r.AnomalyCounts) != 1 {
			t.Fatalf("want duplicates only: %v", r.AnomalyCounts)
		}
		a := r.Anomalies[0]
		if len(a.Nodes) != 2 || a.Nodes[0] == a.Nodes[1] {
			t.Fatalf("a duplicate should come from two servers: %s", a.Message)
		}
		t.Log(a.Message)
	})
}

// TestSegmentOrder: leased ranges are unique and grow per server across
// kills; judged as one global counter they are not.
func TestSegmentOrder(t *testing.T) {
	eachRun(t, "postgres-segment-order", func(t *testing.T, control bool, out *core.Outcome) {
		if out.Stats.Faults == 0 {
			t.Fatalf("no fault was injected: %+v", out.Stats)
		}
		if control {
			r := verdict(t, out, "ids", checkers.Valid)
			if r.Counts["global-order-inversions"] == 0 || !strings.Contains(r.Summary, "not globally ordered") {
				t.Fatalf("control: the order across servers is not reported: %v %s", r.Counts, r.Summary)
			}
			return
		}
		r := verdict(t, out, "ids", checkers.Invalid)
		if r.AnomalyCounts["non-monotonic-id"] == 0 || len(r.AnomalyCounts) != 1 {
			t.Fatalf("want only order across servers: %v", r.AnomalyCounts)
		}
		t.Log(r.Anomalies[0].Message)
	})
}

// runIDs runs the ids workload on target under every node fault.
func runIDs(t *testing.T, target string, nodes int, params core.Params) *core.Outcome {
	t.Helper()
	cfg := core.DefaultConfig()
	cfg.Target, cfg.Workload = target, "ids"
	cfg.Nodes, cfg.Concurrency = nodes, 4
	cfg.TimeLimit, cfg.Rate, cfg.Seed = 5*time.Second, 300, 3
	cfg.Nemeses = []string{"kill", "pause", "partition"}
	cfg.NemesisInterval = 500 * time.Millisecond
	cfg.OpTimeout, cfg.CheckTimeout = 2*time.Second, time.Minute
	cfg.Params = params
	cfg.Store = t.TempDir()
	reg := builtin.New(postgres.Register)
	out := runtest.Local(t, reg, cfg)
	return out
}

// TestAutoincTwoPrimariesUnderFaults: offsets 1 and 2, step 2, on two
// servers that are killed, paused and cut off: every ID unique, each
// server's increasing. The target's defaults tell the checker the IDs are
// plain counters ordered per server.
func TestAutoincTwoPrimariesUnderFaults(t *testing.T) {
	needPostgres(t)
	out := runIDs(t, postgres.AutoincName, 2, nil)
	sc, err := core.ReadConfig(out.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := sc.Params["ids-layout"]; got != "counter" {
		t.Fatalf("ids-layout %q, want the target's counter", got)
	}
	r := verdict(t, out, "ids", checkers.Valid)
	if r.Counts["ok"] < 100 {
		t.Fatalf("too few IDs to mean anything: %v", r.Counts)
	}
}

// TestSegmentUnderFaults: the database and two ID servers killed, paused
// and cut off: unique, per-server order.
func TestSegmentUnderFaults(t *testing.T) {
	needPostgres(t)
	out := runIDs(t, postgres.SegmentName, 3, core.Params{"postgres-segment-step": "20"})
	r := verdict(t, out, "ids", checkers.Valid)
	if r.Counts["ok"] < 100 {
		t.Fatalf("too few IDs to mean anything: %v", r.Counts)
	}
}

// TestSegmentFailover: leases the old primary acknowledged and never
// replicated are leased again from the promoted standby; a synchronous
// standby loses none.
func TestSegmentFailover(t *testing.T) {
	eachRun(t, "postgres-segment-failover", func(t *testing.T, control bool, out *core.Outcome) {
		if control {
			verdict(t, out, "ids", checkers.Valid)
			return
		}
		r := verdict(t, out, "ids", checkers.Invalid)
		if r.AnomalyCounts["duplicate-id"] == 0 {
			t.Fatalf("want duplicates: %v", r.AnomalyCounts)
		}
		a := r.Anomalies[0]
		if a.Fault == nil || len(a.Nodes) < 1 {
			t.Fatalf("weak witness: %s (fault %v)", a.Message, a.Fault)
		}
		t.Log(a.Message)
	})
}
