package twopc_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaostest/chaos/builtin"
	"github.com/chaostest/chaos/checkers"
	bankcheck "github.com/chaostest/chaos/checkers/bank"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/internal/runtest"
	"github.com/chaostest/chaos/targets/postgres"
	"github.com/chaostest/chaos/targets/postgres/twopc"
)

func TestMain(m *testing.M) {
	builtin.RunNodeIfRequested(postgres.Register, twopc.Register)
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

func registry() *core.Registry { return builtin.New(postgres.Register, twopc.Register) }

func playScenario(t *testing.T, name string, control bool, seed int64) *core.Outcome {
	t.Helper()
	reg := registry()
	sc, err := reg.Scenario(name)
	if err != nil {
		t.Fatal(err)
	}
	cfg := sc.Config(control)
	cfg.Store = t.TempDir()
	if seed != 0 {
		cfg.Seed = seed
	}
	out := runtest.Local(t, reg, cfg)
	if b, _ := exec.Command("pgrep", "-f", "postgres -D "+out.Dir).Output(); strings.TrimSpace(string(b)) != "" {
		t.Fatalf("PostgreSQL servers left running: %s", b)
	}
	return out
}

// TestCoordinatorCrash plays the named reproduction and its control: killed
// between its phases without a log, the coordinator leaves a transfer
// committed on one participant and prepared on the other for good; with
// the durable log, recovery commits it.
func TestCoordinatorCrash(t *testing.T) {
	needPostgres(t)
	t.Run("anomaly", func(t *testing.T) {
		out := playScenario(t, "twopc-coordinator-crash", false, 0)
		r := out.Results.Checkers["bank"]
		if r.Valid != checkers.Invalid || r.AnomalyCounts[bankcheck.KindInDoubt] < 1 {
			t.Fatalf("verdict %s, want an in-doubt transfer: %s %s", r.Valid, r.Summary, r.Error)
		}
		// The crash is aimed at one transfer, committed on one participant
		// and prepared on the other; on a loaded machine another transfer
		// may be between its phases at that moment and stay in doubt too.
		var a checkers.Anomaly
		for _, x := range r.Anomalies {
			if x.Kind == bankcheck.KindInDoubt && strings.Contains(x.Message, "committed") {
				a = x
				break
			}
		}
		for _, w := range []string{"committed", "still prepared", "coordinator-crash on n1"} {
			if !strings.Contains(a.Message, w) {
				t.Fatalf("witness %q lacks %q", a.Message, w)
			}
		}
		if a.Fault == nil || a.Fault.F != twopc.FCrash {
			t.Fatalf("witness without the crash: %+v", a.Fault)
		}
		t.Log(a.Message)
	})
	t.Run("control", func(t *testing.T) {
		out := playScenario(t, "twopc-coordinator-crash", true, 0)
		r := out.Results.Checkers["bank"]
		if r.Valid != checkers.Valid {
			t.Fatalf("control: verdict %s: %s %s", r.Valid, r.Summary, r.Error)
		}
		if out.Stats.Applied == 0 {
			t.Fatalf("the crash never happened: %+v", out.Stats)
		}
		if r.Counts["read-ok"] < 10 || r.Counts["committed-everywhere"] < 10 {
			t.Fatalf("too little happened to mean anything: %v", r.Counts)
		}
		injected(t, out.Dir)
	})
}

// TestPrepareUnanswered plays the second reproduction and its control: a
// participant prepares but its answer is lost; the coordinator gives up and
// rolls back elsewhere. Without a log the prepared branch stays in doubt;
// with one, recovery rolls it back (presumed abort).
func TestPrepareUnanswered(t *testing.T) {
	needPostgres(t)
	t.Run("anomaly", func(t *testing.T) {
		out := playScenario(t, "twopc-prepare-unanswered", false, 0)
		r := out.Results.Checkers["bank"]
		if r.Valid != checkers.Invalid || r.AnomalyCounts[bankcheck.KindInDoubt] == 0 {
			t.Fatalf("verdict %s, want an in-doubt transfer: %s %s", r.Valid, r.Summary, r.Error)
		}
		for _, a := range r.Anomalies {
			if a.Kind == bankcheck.KindInDoubt {
				if !strings.Contains(a.Message, "reported fail") || !strings.Contains(a.Message, "still prepared") || a.Fault == nil {
					t.Fatalf("weak witness: %s", a.Message)
				}
				t.Log(a.Message)
				return
			}
		}
	})
	t.Run("control", func(t *testing.T) {
		out := playScenario(t, "twopc-prepare-unanswered", true, 0)
		r := out.Results.Checkers["bank"]
		if r.Valid != checkers.Valid || out.Stats.Applied == 0 {
			t.Fatalf("control: verdict %s (%d faults applied): %s %s", r.Valid, out.Stats.Applied, r.Summary, r.Error)
		}
	})
}

// injected takes a real valid history and plants one anomaly in its final
// state at a time: each must be found, with the transfer named.
func injected(t *testing.T, dir string) {
	h, err := history.ReadFile(filepath.Join(dir, "history.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	fi := -1
	for i := range h.Ops {
		if h.Ops[i].F == bankcheck.FFinal && h.Ops[i].Type == history.OK {
			fi = i
		}
	}
	if fi < 0 {
		t.Fatal("no final state in the history")
	}
	var f bankcheck.Final
	if err := json.Unmarshal(h.Ops[fi].Value, &f); err != nil {
		t.Fatal(err)
	}
	// A transfer committed on both participants.
	both := map[int64]int{}
	for _, p := range f.Participants {
		for _, id := range p.Committed {
			both[id]++
		}
	}
	var victim int64
	for id, n := range both {
		if n == 2 && (victim == 0 || id < victim) {
			victim = id
		}
	}
	if victim == 0 {
		t.Fatal("no transfer across both participants committed")
	}
	chk := bankcheck.New(4, 100)
	for _, c := range []struct {
		kind   string
		mutate func(p *bankcheck.Participant)
	}{
		{bankcheck.KindInDoubt, func(p *bankcheck.Participant) {
			p.Committed = drop(p.Committed, victim)
			p.Prepared = append(p.Prepared, victim)
		}},
		{bankcheck.KindSplit, func(p *bankcheck.Participant) { p.Committed = drop(p.Committed, victim) }},
	} {
		var g bankcheck.Final
		_ = json.Unmarshal(h.Ops[fi].Value, &g)
		c.mutate(&g.Participants[len(g.Participants)-1])
		ops := append([]history.Op(nil), h.Ops...)
		ops[fi].Value = history.JSON(g)
		r := chk.Check(context.Background(), &history.File{Header: h.Header, Ops: ops})
		if r.Valid != checkers.Invalid || r.AnomalyCounts[c.kind] != 1 {
			t.Fatalf("injected %s: %s %v", c.kind, r.Valid, r.AnomalyCounts)
		}
	}
	if r := chk.Check(context.Background(), h); r.Valid != checkers.Valid {
		t.Fatalf("the untouched history: %s %s", r.Valid, r.Summary)
	}
}

func drop(ids []int64, x int64) []int64 {
	var out []int64
	for _, id := range ids {
		if id != x {
			out = append(out, id)
		}
	}
	return out
}
