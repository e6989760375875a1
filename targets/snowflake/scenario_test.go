package snowflake_test

import (
	"os"
	"testing"
	"time"

	"github.com/chaostest/chaos/builtin"
	"github.com/chaostest/chaos/checkers"
	idcheck "github.com/chaostest/chaos/checkers/ids"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/internal/runtest"
)

func TestMain(m *testing.M) {
	builtin.RunNodeIfRequested()
	os.Exit(m.Run())
}

// scenario runs the snowflake target on real node processes.
func scenario(t *testing.T, params core.Params, nemeses ...string) checkers.Result {
	t.Helper()
	cfg := core.DefaultConfig()
	cfg.Target = "snowflake"
	cfg.Store = t.TempDir()
	cfg.TimeLimit = 4 * time.Second
	cfg.Rate = 400
	cfg.Seed = 7
	cfg.Nemeses = nemeses
	cfg.NemesisInterval = 700 * time.Millisecond
	cfg.Params = params
	out := runtest.Local(t, builtin.New(), cfg)
	r := out.Results.Checkers["ids"]
	t.Logf("%s: %s %v", out.Dir, r.Summary, r.Counts)
	return r
}

func TestNaiveModeIssuesDuplicatesUnderClockRollback(t *testing.T) {
	t.Parallel()
	r := scenario(t, core.Params{"mode": "naive", "clock-rollback": "1s"}, "clock")
	if r.Valid != checkers.Invalid || r.AnomalyCounts[idcheck.KindDuplicate] == 0 {
		t.Fatalf("verdict %s, anomalies %v: want duplicates", r.Valid, r.AnomalyCounts)
	}
	a := r.Anomalies[0]
	if a.Kind != idcheck.KindDuplicate || len(a.Ops) < 2 || a.Fault == nil || len(a.Nodes) == 0 {
		t.Fatalf("witness lacks ops, nodes or fault: %+v", a)
	}
}

func TestSafeModesStayUniqueUnderClockFaultsAndRestarts(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"monotonic", "guarded"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			r := scenario(t, core.Params{"mode": mode, "clock-rollback": "1s"}, "clock", "kill")
			if r.Valid != checkers.Valid {
				t.Fatalf("%s: verdict %s: %s %v", mode, r.Valid, r.Summary, r.AnomalyCounts)
			}
			if mode == "guarded" && r.Counts["ok"] == 0 {
				t.Fatal("guarded issued nothing")
			}
		})
	}
}

func TestSameMachineIDsCollideEvenInMonotonicMode(t *testing.T) {
	t.Parallel()
	r := scenario(t, core.Params{"mode": "monotonic", "machine-ids": "same"})
	if r.Valid != checkers.Invalid || r.AnomalyCounts[idcheck.KindDuplicate] == 0 {
		t.Fatalf("verdict %s %v: nodes sharing a machine id must collide", r.Valid, r.AnomalyCounts)
	}
}

// The named reproduction shows duplicates on its one seed, the witness
// naming the aimed rollback and the ID that fired it; its control (monotonic
// nodes, the same fault) shows none.
func TestReproSnowflakeClockRollback(t *testing.T) {
	t.Parallel()
	s, err := builtin.New().Scenario("snowflake-clock-rollback")
	if err != nil {
		t.Fatal(err)
	}
	for _, control := range []bool{false, true} {
		cfg := s.Config(control)
		cfg.Store = t.TempDir()
		out := runtest.Local(t, builtin.New(), cfg)
		r := out.Results.Checkers["ids"]
		t.Logf("control %t: %s %v", control, r.Summary, r.AnomalyCounts)
		if control {
			if out.Results.Valid != checkers.Valid {
				t.Fatalf("control verdict %s: %s", out.Results.Valid, r.Summary)
			}
			continue
		}
		if r.Valid != checkers.Invalid || r.AnomalyCounts[idcheck.KindDuplicate] == 0 {
			t.Fatalf("verdict %s, anomalies %v: want duplicates", r.Valid, r.AnomalyCounts)
		}
		var dup *checkers.Anomaly
		for i := range r.Anomalies {
			if r.Anomalies[i].Kind == idcheck.KindDuplicate {
				dup = &r.Anomalies[i]
				break
			}
		}
		if dup == nil || dup.Fault == nil || dup.Fault.F != "clock-rollback" {
			t.Fatalf("duplicate witness without the rollback before it: %+v", dup)
		}
		if _, ok := core.TriggerOf(dup.Fault); !ok {
			t.Fatalf("the rollback %v does not name the event that fired it", dup.Fault)
		}
	}
}
