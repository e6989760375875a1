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
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/internal/runtest"
	"github.com/chaostest/chaos/targets/postgres"
)

func TestMain(m *testing.M) {
	builtin.RunNodeIfRequested(postgres.Register)
	os.Exit(m.Run())
}

// needPostgres skips without PostgreSQL, except in CI, where its absence is
// a failure: .ci/setup.d/postgres.sh installs it.
func needPostgres(t *testing.T) {
	t.Helper()
	if _, err := postgres.FindBin(""); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI without PostgreSQL: %v", err)
		}
		t.Skip(err)
	}
}

func run(t *testing.T, nodes int, params core.Params, nemeses ...string) *core.Outcome {
	t.Helper()
	return runWorkload(t, "list-append", nodes, params, nemeses...)
}

func runWorkload(t *testing.T, workload string, nodes int, params core.Params, nemeses ...string) *core.Outcome {
	t.Helper()
	cfg := core.DefaultConfig()
	cfg.Target = postgres.Name
	cfg.Workload = workload
	cfg.Nodes = nodes
	cfg.Concurrency = 10
	cfg.TimeLimit = 8 * time.Second
	cfg.Rate = 400
	cfg.Seed = 3
	cfg.Store = t.TempDir()
	cfg.Nemeses = nemeses
	cfg.NemesisInterval = 2 * time.Second
	cfg.CheckTimeout = time.Minute
	cfg.Params = params
	out := runtest.Local(t, builtin.New(postgres.Register), cfg)
	return out
}

// TestIsolationLevels runs the same contended transactions at each level:
// serializable holds; repeatable read (snapshot isolation in PostgreSQL)
// lets write skew (G2-item) through; read committed also lets through what
// snapshot isolation forbids (G-single, lost updates).
func TestIsolationLevels(t *testing.T) {
	needPostgres(t)
	for _, c := range []struct {
		level string
		want  checkers.Validity
		kinds []string // one of these must be reported
		holds string   // strongest model that must still hold
	}{
		{"serializable", checkers.Valid, nil, "strict-serializable"},
		{"repeatable-read", checkers.Invalid, []string{"G2-item"}, "snapshot-isolation"},
		{"read-committed", checkers.Invalid, []string{"G-single", "lost-update"}, "read-committed"},
	} {
		t.Run(c.level, func(t *testing.T) {
			out := run(t, 1, core.Params{"postgres-isolation": c.level, "txn-keys": "3"})
			r := out.Results.Checkers["txn"]
			if r.Valid != c.want {
				t.Fatalf("verdict %s, want %s: %s %s", r.Valid, c.want, r.Summary, r.Error)
			}
			if r.Counts["ok"] < 100 {
				t.Fatalf("too few committed transactions to mean anything: %v", r.Counts)
			}
			found := len(c.kinds) == 0
			for _, k := range c.kinds {
				found = found || r.AnomalyCounts[k] > 0
			}
			if !found {
				t.Fatalf("want one of %v, got %v: %s", c.kinds, r.AnomalyCounts, r.Summary)
			}
			d := r.Details.(map[string]any)
			if got := d["strongest_satisfied"]; got != c.holds {
				t.Fatalf("strongest model satisfied %v, want %s: %s", got, c.holds, r.Summary)
			}
			for _, a := range r.Anomalies {
				if a.Message == "" || len(a.Ops) == 0 {
					t.Fatalf("anomaly without a witness: %+v", a)
				}
			}
			t.Log(r.Summary)
		})
	}
}

// TestStandbysUnderFaults runs a primary with two asynchronous standbys while
// nodes are killed and paused: serializable still holds on the primary, and
// no server is left running afterwards.
func TestStandbysUnderFaults(t *testing.T) {
	needPostgres(t)
	out := run(t, 3, core.Params{"postgres-isolation": "serializable"}, "kill", "pause")
	r := out.Results.Checkers["txn"]
	if r.Valid != checkers.Valid {
		t.Fatalf("verdict %s: %s %s", r.Valid, r.Summary, r.Error)
	}
	if out.Stats.Faults == 0 {
		t.Fatalf("no fault was injected: %+v", out.Stats)
	}
	if b, _ := exec.Command("pgrep", "-f", "postgres -D "+out.Dir).Output(); strings.TrimSpace(string(b)) != "" {
		t.Fatalf("PostgreSQL servers left running: %s", b)
	}
	t.Log(r.Summary)
}

// runFailover runs one half of a failover scenario on the local runtime and
// reads its history. Both halves of each failover scenario claim a failover:
// the replication was cut, the primary killed and the standby promoted.
func runFailover(t *testing.T, reg *core.Registry, sc core.ScenarioInfo, control bool) (*core.Outcome, *history.File) {
	t.Helper()
	cfg := sc.Config(control)
	cfg.Store = t.TempDir()
	out := runtest.Local(t, reg, cfg)
	hf, err := history.ReadFile(core.HistoryPath(out.Dir))
	if err != nil {
		t.Fatal(err)
	}
	done := map[string]bool{}
	for _, op := range hf.Ops {
		if op.IsNemesis() && op.Type == history.OK {
			done[op.F] = true
		}
	}
	if !done["cut-replication"] || !done["kill-primary"] || !done["promote"] {
		t.Fatalf("the failover did not happen: steps done %v", done)
	}
	return out, hf
}

// TestAsyncFailover plays the named reproduction and its control: with
// asynchronous replication the promoted standby lacks commits the old
// primary acknowledged and others read; with synchronous replication nothing
// acknowledged is lost.
func TestAsyncFailover(t *testing.T) {
	needPostgres(t)
	reg := builtin.New(postgres.Register)
	sc, err := reg.Scenario("postgres-async-failover")
	if err != nil {
		t.Fatal(err)
	}
	for _, control := range []bool{false, true} {
		t.Run(map[bool]string{false: "anomaly", true: "control"}[control], func(t *testing.T) {
			out, _ := runFailover(t, reg, sc, control)
			r := out.Results.Checkers["txn"]
			if control {
				if r.Valid != checkers.Valid {
					t.Fatalf("control: verdict %s: %s %s", r.Valid, r.Summary, r.Error)
				}
				return
			}
			lost := r.AnomalyCounts["incompatible-order"] + r.AnomalyCounts["G-single-realtime"] + r.AnomalyCounts["G2-item-realtime"]
			if r.Valid != checkers.Invalid || lost == 0 {
				t.Fatalf("verdict %s, want lost acknowledged appends: %s %s", r.Valid, r.Summary, r.Error)
			}
			a := r.Anomalies[0]
			if !strings.Contains(a.Message, "committed") || a.Fault == nil {
				t.Fatalf("weak witness: %s (fault %v)", a.Message, a.Fault)
			}
			t.Log(a.Message)
		})
	}
}

// TestSyncCancel plays postgres-sync-cancel and its control: with a
// synchronous standby cut off, a client cancels a waiting COMMIT, PostgreSQL
// shows the commit on the primary alone, others read it, and the promoted
// standby lacks it; clients that never cancel lose nothing.
func TestSyncCancel(t *testing.T) {
	needPostgres(t)
	reg := builtin.New(postgres.Register)
	sc, err := reg.Scenario("postgres-sync-cancel")
	if err != nil {
		t.Fatal(err)
	}
	for _, control := range []bool{false, true} {
		t.Run(map[bool]string{false: "anomaly", true: "control"}[control], func(t *testing.T) {
			out, hf := runFailover(t, reg, sc, control)
			var canceled []string // values of appends whose wait was cancelled
			for _, op := range hf.Ops {
				if op.Type != history.Info || !strings.Contains(op.Error, "canceling wait for synchronous replication") {
					continue
				}
				var mops [][3]any
				if err := op.DecodeValue(&mops); err != nil {
					t.Fatal(err)
				}
				for _, m := range mops {
					if m[0] == "append" {
						canceled = append(canceled, strconv.FormatInt(int64(m[2].(float64)), 10))
					}
				}
			}
			r := out.Results.Checkers["txn"]
			if control {
				if len(canceled) > 0 {
					t.Fatalf("control: a client cancelled a commit: %v", canceled)
				}
				if r.Valid != checkers.Valid {
					t.Fatalf("control: verdict %s: %s %s", r.Valid, r.Summary, r.Error)
				}
				return
			}
			if len(canceled) == 0 {
				t.Fatal("no commit's wait for the standby was cancelled")
			}
			if r.Valid != checkers.Invalid || r.AnomalyCounts["incompatible-order"] == 0 {
				t.Fatalf("verdict %s, want incompatible-order: %s %s", r.Valid, r.Summary, r.Error)
			}
			// The witness names a read and a cancelled append's value.
			for _, a := range r.Anomalies {
				for _, v := range canceled {
					if a.Kind == "incompatible-order" && strings.Contains(a.Message, " read ") && strings.Contains(a.Message, v) {
						t.Log(a.Message)
						return
					}
				}
			}
			t.Fatalf("no witness names a read and a cancelled append's value %v: %+v", canceled, r.Anomalies)
		})
	}
}
