package refkv_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaostest/chaos/builtin"
	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/checkers/linearizable"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/internal/runtest"
	"github.com/chaostest/chaos/targets/refkv"
)

func TestMain(m *testing.M) {
	builtin.RunNodeIfRequested()
	os.Exit(m.Run())
}

func TestStoreModes(t *testing.T) {
	now := time.Unix(0, 0)
	clock := func() time.Time { return now }

	file := filepath.Join(t.TempDir(), "store.json")
	s, err := refkv.NewStore(refkv.Linearizable, refkv.WithNow(clock), refkv.WithFile(file))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Read("a"); ok {
		t.Fatal("unset key read a value")
	}
	s.Write("a", 1)
	if ok, _ := s.CAS("a", 1, 2); !ok {
		t.Fatal("cas of the current value refused")
	}
	if ok, _ := s.CAS("a", 1, 3); ok {
		t.Fatal("cas of a stale value accepted")
	}
	if v, _ := s.Read("a"); v != 2 {
		t.Fatalf("read %d, want 2", v)
	}
	// A restarted store keeps its data.
	s2, err := refkv.NewStore(refkv.Linearizable, refkv.WithFile(file))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := s2.Read("a"); !ok || v != 2 {
		t.Fatalf("after restart read %d %v, want 2", v, ok)
	}

	st, _ := refkv.NewStore(refkv.Stale, refkv.WithNow(clock), refkv.WithStaleWindow(time.Second))
	st.Write("a", 1)
	st.Write("a", 2)
	if v, _ := st.Read("a"); v != 1 {
		t.Fatalf("stale read %d, want 1", v)
	}
	now = now.Add(2 * time.Second)
	if v, _ := st.Read("a"); v != 2 {
		t.Fatalf("read after the window %d, want 2", v)
	}

	lw, _ := refkv.NewStore(refkv.LostWrite)
	for i := int64(1); i <= 3; i++ {
		lw.Write("a", i)
	}
	if v, _ := lw.Read("a"); v != 2 {
		t.Fatalf("lost-write read %d, want 2 (the third write lost)", v)
	}
}

// run performs a short seeded run of the register workload against refkv.
func run(t *testing.T, mode string, nemeses ...string) *core.Outcome {
	t.Helper()
	cfg := core.DefaultConfig()
	cfg.Target = "refkv"
	cfg.Nodes = 3
	cfg.Concurrency = 5
	cfg.TimeLimit = 2 * time.Second
	cfg.Rate = 200
	cfg.Seed = 42
	cfg.Store = t.TempDir()
	cfg.Nemeses = nemeses
	cfg.NemesisInterval = 500 * time.Millisecond
	cfg.CheckTimeout = time.Minute
	cfg.Params = core.Params{"refkv-mode": mode}
	out := runtest.Local(t, builtin.New(), cfg)
	return out
}

func TestLinearizableStorePasses(t *testing.T) {
	out := run(t, "linearizable", "kill")
	r := out.Results.Checkers["linearizable"]
	if out.Results.Valid != checkers.Valid {
		t.Fatalf("verdict %s: %s %s", out.Results.Valid, r.Summary, r.Error)
	}
	// Kills of the data node turn many operations indeterminate; enough
	// must still complete for the verdict to mean something.
	if r.Counts["ok"] < 30 {
		t.Fatalf("too few operations to mean anything: %v", r.Counts)
	}
	t.Logf("%s", r.Summary)
}

func TestBrokenStoresCaught(t *testing.T) {
	for _, mode := range []string{"stale", "lost-write"} {
		t.Run(mode, func(t *testing.T) {
			out := run(t, mode)
			r := out.Results.Checkers["linearizable"]
			if out.Results.Valid != checkers.Invalid {
				t.Fatalf("verdict %s: %s %s", out.Results.Valid, r.Summary, r.Error)
			}
			a := r.Anomalies[0]
			w := a.Data.(*linearizable.Witness)
			if w.Key == "" || w.Stuck == "" || !strings.Contains(a.Message, "cannot take effect") || len(a.Ops) == 0 {
				t.Fatalf("weak witness: %+v", a)
			}
			if w.Visualization == "" || filepath.Dir(w.Visualization) != out.Dir {
				t.Fatalf("visualization %q not in the run directory %s (%s)", w.Visualization, out.Dir, w.VisualizationNote)
			}
			if _, err := os.Stat(w.Visualization); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s\n%s", r.Summary, a.Message)
		})
	}
}
