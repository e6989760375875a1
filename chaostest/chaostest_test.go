package chaostest_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chaostest/chaos/chaostest"
	"github.com/chaostest/chaos/checkers"
	idcheck "github.com/chaostest/chaos/checkers/ids"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
)

func TestMain(m *testing.M) { chaostest.Main(m) }

// idService is "your system": an in-process snowflake ID generator per
// node. With sequence false it forgets the per-millisecond sequence, the
// kind of bug the ids workload catches.
type idService struct {
	mu       sync.Mutex
	machine  int64
	sequence bool
	lastMs   int64
	seq      int64
}

func (s *idService) next() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	ms := time.Since(idcheck.DefaultEpoch).Milliseconds()
	if s.sequence {
		if ms <= s.lastMs {
			ms = s.lastMs
			s.seq++
			if s.seq > 4095 {
				for ms <= s.lastMs {
					time.Sleep(100 * time.Microsecond)
					ms = time.Since(idcheck.DefaultEpoch).Milliseconds()
				}
				s.seq = 0
			}
		} else {
			s.seq = 0
		}
	}
	s.lastMs = ms
	return uint64(ms)<<22 | uint64(s.machine)<<12 | uint64(s.seq)
}

// idClient is what a team writes: it performs the ids workload's one
// operation, "generate", against its own service.
type idClient struct{ svc *idService }

func (c idClient) Invoke(ctx context.Context, op history.Op) history.Op {
	op.Type, op.Value = history.OK, history.Uint(c.svc.next())
	return op
}

func (idClient) Close() error { return nil }

// cluster gives each node its own service with its own machine id.
func cluster(sequence bool) func(context.Context, core.ClientConfig) (core.Client, error) {
	var mu sync.Mutex
	nodes := map[string]*idService{}
	return func(_ context.Context, cfg core.ClientConfig) (core.Client, error) {
		mu.Lock()
		defer mu.Unlock()
		svc, ok := nodes[cfg.Node]
		if !ok {
			svc = &idService{machine: int64(len(nodes) + 1), sequence: sequence}
			nodes[cfg.Node] = svc
		}
		return idClient{svc}, nil
	}
}

func TestYourClientValid(t *testing.T) {
	res := chaostest.Run(t, chaostest.Scenario{Workload: "ids", Client: cluster(true),
		TimeLimit: time.Second, Rate: 500})
	if res == nil || res.Stats.OK == 0 {
		t.Fatal("no operation ran")
	}
	if _, err := os.Stat(res.Report); err != nil {
		t.Errorf("report: %v", err)
	}
}

// recorder is a testing.TB that records a failure instead of failing, so a
// test can check what chaostest tells the user.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	failed bool
	msg    string
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = true
	r.msg = strings.TrimSpace(r.msg + "\n" + sprintf(format, args...))
}

func (r *recorder) Failed() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.failed }

func TestInvalidVerdictFailsWithReportPath(t *testing.T) {
	t.Setenv(chaostest.StoreEnv, t.TempDir())
	rec := &recorder{TB: t}
	chaostest.Run(rec, chaostest.Scenario{Workload: "ids", Client: cluster(false),
		TimeLimit: time.Second, Rate: 1000, Concurrency: 4})
	if !rec.failed {
		t.Fatal("a service that issues duplicate IDs passed")
	}
	for _, want := range []string{"verdict INVALID, want valid", "duplicate-id", "report: ", "report.html", "rerun:  go test -run"} {
		if !strings.Contains(rec.msg, want) {
			t.Errorf("failure message lacks %q:\n%s", want, rec.msg)
		}
	}
	i := strings.Index(rec.msg, "report: ")
	path := strings.Fields(rec.msg[i+len("report: "):])[0]
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the named report does not exist: %v", err)
	}
}

func TestWantInvalid(t *testing.T) {
	chaostest.Run(t, chaostest.Scenario{Workload: "ids", Client: cluster(false),
		TimeLimit: time.Second, Rate: 1000, Concurrency: 4, Want: checkers.Invalid})
}

// TestBuiltInTarget runs chaos's own snowflake service, as real processes,
// under clock faults.
func TestBuiltInTarget(t *testing.T) {
	chaostest.Run(t, chaostest.Scenario{Target: "snowflake", Params: core.Params{"mode": "monotonic"},
		Nemeses: []string{"clock"}, TimeLimit: 2 * time.Second, NemesisInterval: 300 * time.Millisecond, Seed: 7})
}

func TestBadScenarios(t *testing.T) {
	for name, s := range map[string]chaostest.Scenario{
		"nothing":           {},
		"both":              {Target: "snowflake", Client: cluster(true)},
		"no workload":       {Client: cluster(true)},
		"nemesis, no nodes": {Workload: "ids", Client: cluster(true), Nemeses: []string{"kill"}},
		"unknown target":    {Target: "nope"},
		"unknown workload":  {Workload: "nope", Client: cluster(true)},
	} {
		t.Run(name, func(t *testing.T) {
			rec := &recorder{TB: t}
			if res := chaostest.Run(rec, s); res != nil || !rec.failed || !strings.HasPrefix(rec.msg, "chaostest: ") {
				t.Errorf("Run = %v, failed %v, message %q", res, rec.failed, rec.msg)
			}
		})
	}
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// TestYourProcessesUnderFaults describes "your system" as processes the
// local runtime starts, so the kill and pause nemeses act on them; here the
// processes are plain sleeps and the IDs come from the in-process service.
func TestYourProcessesUnderFaults(t *testing.T) {
	res := chaostest.Run(t, chaostest.Scenario{Workload: "ids", Client: cluster(true),
		Nodes: func(names []string, _ core.Params) ([]core.NodeSpec, error) {
			var specs []core.NodeSpec
			for _, n := range names {
				specs = append(specs, core.NodeSpec{Name: n, Program: "sleep",
					Args: func(core.NodeEnv) []string { return []string{"600"} }})
			}
			return specs, nil
		},
		Nemeses: []string{"kill", "pause"}, TimeLimit: 2 * time.Second, NemesisInterval: 300 * time.Millisecond, Seed: 3})
	if res == nil {
		return
	}
	if res.Stats.Faults == 0 {
		t.Error("no fault was injected into the processes")
	}
}

// sleepers are "your system" as plain processes (`sleep arg`, arg also
// finds them) with the given clock method.
func sleepers(clock core.ClockMethod, arg string) func([]string, core.Params) ([]core.NodeSpec, error) {
	return func(names []string, _ core.Params) ([]core.NodeSpec, error) {
		var specs []core.NodeSpec
		for _, n := range names {
			specs = append(specs, core.NodeSpec{Name: n, Program: "sleep", Clock: clock,
				Args: func(core.NodeEnv) []string { return []string{arg} }})
		}
		return specs, nil
	}
}

// TestFaultTheNodesCannotTakeIsRefused: clock faults on processes whose
// clock cannot move are refused before anything starts, in one line that
// says what would make them possible.
func TestFaultTheNodesCannotTakeIsRefused(t *testing.T) {
	store := t.TempDir()
	t.Setenv(chaostest.StoreEnv, store)
	rec := &recorder{TB: t}
	res := chaostest.Run(rec, chaostest.Scenario{Workload: "ids", Client: cluster(true), Nodes: sleepers(core.ClockNone, "600"),
		Nemeses: []string{"clock"}, TimeLimit: time.Second})
	if res != nil || !rec.failed {
		t.Fatalf("clock faults on nodes without a clock method were accepted: %+v", res)
	}
	if strings.Contains(rec.msg, "\n") || !strings.Contains(rec.msg, "--nemesis clock refused before the run") ||
		!strings.Contains(rec.msg, "core.ClockControl") {
		t.Errorf("refusal is not one line with the remedy: %q", rec.msg)
	}
	if ents, _ := os.ReadDir(store); len(ents) != 0 {
		t.Errorf("the refused run wrote %d entries to the store", len(ents))
	}
}

// TestFaultsThatAllFailAreNotGreen: the nodes claim a control port for
// their clock but have none, so every clock fault fails; the test must not
// pass unless the scenario says that is expected.
func TestFaultsThatAllFailAreNotGreen(t *testing.T) {
	t.Setenv(chaostest.StoreEnv, t.TempDir())
	s := chaostest.Scenario{Workload: "ids", Client: cluster(true), Nodes: sleepers(core.ClockControl, "600"),
		Nemeses: []string{"clock"}, TimeLimit: 1500 * time.Millisecond, NemesisInterval: 200 * time.Millisecond}
	rec := &recorder{TB: t}
	if res := chaostest.Run(rec, s); res != nil || !rec.failed {
		t.Fatal("a run whose clock faults all failed passed")
	}
	if !strings.Contains(rec.msg, "NO CLOCK FAULT WAS APPLIED") {
		t.Errorf("the failure does not say the faults never happened:\n%s", rec.msg)
	}
	s.AllowUnappliedFaults = true
	res := chaostest.Run(t, s)
	if res == nil {
		return
	}
	if len(res.Faults) != 1 || res.Faults[0].Kind != "clock" || res.Faults[0].Planned == 0 || res.Faults[0].Applied != 0 {
		t.Errorf("tally %+v", res.Faults)
	}
}
