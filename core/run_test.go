package core

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/workloads/gen"
)

// The fakes below test the runner alone; scenarios with real nodes live in
// the targets' tests.

type fakeRuntime struct {
	mu        sync.Mutex
	calls     []string
	tornDown  atomic.Bool
	startErr  error
	panicKill bool
}

func (f *fakeRuntime) note(s string) {
	f.mu.Lock()
	f.calls = append(f.calls, s)
	f.mu.Unlock()
}
func (f *fakeRuntime) Name() string                                    { return "fake" }
func (f *fakeRuntime) Setup(context.Context, string, []NodeSpec) error { return nil }
func (f *fakeRuntime) Addr(from, to, port string) (string, error)      { return to + ":" + port, nil }
func (f *fakeRuntime) Start(_ context.Context, n string) error {
	f.note("start " + n)
	return f.startErr
}
func (f *fakeRuntime) Stop(_ context.Context, n string) error                      { return nil }
func (f *fakeRuntime) Pause(_ context.Context, n string) error                     { return nil }
func (f *fakeRuntime) Resume(_ context.Context, n string) error                    { return nil }
func (f *fakeRuntime) Partition(context.Context, []Link) error                     { return nil }
func (f *fakeRuntime) Heal(context.Context) error                                  { return nil }
func (f *fakeRuntime) SetClockOffset(context.Context, string, time.Duration) error { return nil }
func (f *fakeRuntime) Kill(_ context.Context, n string) error {
	if f.panicKill {
		panic("kill exploded")
	}
	f.note("kill " + n)
	return nil
}
func (f *fakeRuntime) Teardown(context.Context) error { f.tornDown.Store(true); return nil }

type fakeTarget struct {
	outcome func(op history.Op) history.Op
}

func (t fakeTarget) Nodes(names []string, _ Params) ([]NodeSpec, error) {
	specs := make([]NodeSpec, len(names))
	for i, n := range names {
		specs[i] = NodeSpec{Name: n, Kind: "fake"}
	}
	return specs, nil
}

func (t fakeTarget) NewClient(context.Context, string, ClientConfig) (Client, error) {
	return fakeClient(t), nil
}

type fakeClient fakeTarget

func (c fakeClient) Invoke(_ context.Context, op history.Op) history.Op {
	if c.outcome != nil {
		return c.outcome(op)
	}
	op.Type = history.OK
	return op
}
func (c fakeClient) Close() error { return nil }

type fakeWorkload struct{ final []history.Op }

func (fakeWorkload) Generator(int) gen.Generator   { return gen.Repeat(history.Op{F: "noop"}) }
func (w fakeWorkload) Final([]string) []history.Op { return w.final }
func (fakeWorkload) Checkers(*history.Header) ([]checkers.Checker, error) {
	return []checkers.Checker{countChecker{}}, nil
}

// countChecker is valid when every invocation completed.
type countChecker struct{}

func (countChecker) Name() string { return "count" }
func (countChecker) Check(_ context.Context, h *history.File) checkers.Result {
	ps, err := history.Pairs(h.Ops)
	if err != nil {
		return checkers.Result{Error: err.Error()}
	}
	return checkers.Result{Valid: checkers.Valid, Counts: map[string]int64{"pairs": int64(len(ps))}}
}

// fakeNemesis kills a random node each time.
type fakeNemesis struct{}

func (fakeNemesis) Name() string { return "fake-kill" }
func (fakeNemesis) Next(rng *rand.Rand, nodes []string) history.Op {
	return history.Op{F: "kill", Node: nodes[rng.IntN(len(nodes))]}
}
func (fakeNemesis) Apply(ctx context.Context, rt Runtime, op history.Op) history.Op {
	if err := rt.Kill(ctx, op.Node); err != nil {
		op.Type, op.Error = history.Info, err.Error()
		return op
	}
	op.Type = history.OK
	return op
}
func (fakeNemesis) HealOps([]string) []history.Op { return nil }

func fakeRegistry(t fakeTarget, w fakeWorkload) *Registry {
	r := NewRegistry()
	r.AddTarget(TargetInfo{Name: "fake", Workloads: []string{"noop"},
		New: func(Params) (Target, error) { return t, nil }})
	r.AddWorkload(WorkloadInfo{Name: "noop", New: func(Params) (Workload, error) { return w, nil }})
	r.AddNemesis(NemesisInfo{Name: "fake-kill", New: func(Params) (Nemesis, error) { return fakeNemesis{}, nil }})
	return r
}

func fakeConfig(t testing.TB, rt *fakeRuntime) Config {
	cfg := DefaultConfig()
	cfg.Target = "fake"
	cfg.Store = t.TempDir()
	cfg.TimeLimit = 300 * time.Millisecond
	cfg.Rate = 0
	cfg.Seed = 42
	cfg.NewRuntime = func() (Runtime, error) { return rt, nil }
	return cfg
}

func TestExecuteStoresARun(t *testing.T) {
	rt := &fakeRuntime{}
	cfg := fakeConfig(t, rt)
	cfg.Nemeses = []string{"fake-kill"}
	cfg.NemesisInterval = 50 * time.Millisecond
	cfg.Rate = 2000
	p, err := Prepare(fakeRegistry(fakeTarget{}, fakeWorkload{final: []history.Op{{F: "final", Node: "n2"}}}), cfg)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Execute(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if !rt.tornDown.Load() {
		t.Fatal("runtime not torn down")
	}
	if out.Results.Valid != checkers.Valid {
		t.Fatalf("verdict %s: %+v", out.Results.Valid, out.Results)
	}
	for _, f := range []string{HistoryFile, ResultsFile, ConfigFile} {
		if _, err := os.Stat(filepath.Join(out.Dir, f)); err != nil {
			t.Errorf("run directory lacks %s: %v", f, err)
		}
	}
	latest, err := filepath.EvalSymlinks(filepath.Join(cfg.Store, "fake", "latest"))
	if err != nil || filepath.Base(latest) != filepath.Base(out.Dir) {
		t.Fatalf("latest -> %s (%v), want %s", latest, err, out.Dir)
	}
	hf, err := history.ReadFile(HistoryPath(out.Dir))
	if err != nil {
		t.Fatal(err)
	}
	if hf.Header.Seed != 42 || hf.Header.Target != "fake" || len(hf.Header.Nodes) != 3 {
		t.Fatalf("header %+v", hf.Header)
	}
	var faults, finals int
	for _, op := range hf.Ops {
		if op.IsNemesis() && op.Type == history.Invoke {
			faults++
		}
		if op.F == "final" && op.Type == history.OK {
			finals++
			if op.Node != "n2" {
				t.Errorf("final op went to %s, want n2", op.Node)
			}
		}
	}
	if faults == 0 || finals != 1 {
		t.Fatalf("history has %d faults and %d final reads", faults, finals)
	}
	sc, err := ReadConfig(out.Dir)
	if err != nil || sc.Seed != 42 {
		t.Fatalf("config.json: %+v %v", sc, err)
	}
}

func TestInfoGivesAFreshProcess(t *testing.T) {
	rt := &fakeRuntime{}
	cfg := fakeConfig(t, rt)
	cfg.Concurrency = 2
	cfg.TimeLimit = 100 * time.Millisecond
	var n atomic.Int64
	tgt := fakeTarget{outcome: func(op history.Op) history.Op {
		if n.Add(1)%3 == 0 {
			op.Type = history.Info
		} else {
			op.Type = history.OK
		}
		return op
	}}
	p, err := Prepare(fakeRegistry(tgt, fakeWorkload{}), cfg)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Execute(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	hf, err := history.ReadFile(HistoryPath(out.Dir))
	if err != nil {
		t.Fatal(err)
	}
	used := map[int]bool{}
	pending := map[int]bool{}
	for _, op := range hf.Ops {
		if op.Type == history.Invoke {
			if used[op.Process] && !pending[op.Process] {
				// Reuse is fine only while the process never ended in info.
			}
			pending[op.Process] = true
			used[op.Process] = true
			continue
		}
		delete(pending, op.Process)
		if op.Type == history.Info {
			// This process may still be in flight: it must never invoke again.
			used[op.Process] = false
			for _, later := range hf.Ops[op.Index+1:] {
				if later.Process == op.Process {
					t.Fatalf("process %d invoked again after info: %v", op.Process, later)
				}
			}
		}
	}
	if out.Stats.Info == 0 {
		t.Fatal("no info outcomes happened")
	}
}

func TestStartFailureTearsDown(t *testing.T) {
	rt := &fakeRuntime{startErr: os.ErrPermission}
	cfg := fakeConfig(t, rt)
	p, err := Prepare(fakeRegistry(fakeTarget{}, fakeWorkload{}), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Execute(context.Background(), p); err == nil {
		t.Fatal("a node that cannot start must fail the run")
	}
	if !rt.tornDown.Load() {
		t.Fatal("runtime not torn down after a failed start")
	}
}

func TestNemesisPanicIsRecordedAsInfo(t *testing.T) {
	rt := &fakeRuntime{panicKill: true}
	cfg := fakeConfig(t, rt)
	cfg.Nemeses = []string{"fake-kill"}
	cfg.NemesisInterval = 40 * time.Millisecond
	p, err := Prepare(fakeRegistry(fakeTarget{}, fakeWorkload{}), cfg)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Execute(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	hf, _ := history.ReadFile(HistoryPath(out.Dir))
	found := false
	for _, op := range hf.Ops {
		if op.IsNemesis() && op.Type == history.Info {
			found = true
		}
	}
	if !found {
		t.Fatal("a panicking fault should be recorded as info")
	}
}

func TestCancelStopsTheRunAndKeepsTheHistory(t *testing.T) {
	rt := &fakeRuntime{}
	cfg := fakeConfig(t, rt)
	cfg.TimeLimit = time.Hour
	p, err := Prepare(fakeRegistry(fakeTarget{}, fakeWorkload{}), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	out, err := Execute(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if !out.Interrupted || !rt.tornDown.Load() {
		t.Fatalf("interrupted=%v tornDown=%v", out.Interrupted, rt.tornDown.Load())
	}
	if out.Results.Valid != checkers.Valid {
		t.Fatalf("verdict on the kept history: %s", out.Results.Valid)
	}
}

func TestScheduleIsDeterministic(t *testing.T) {
	plan := func(seed int64) []history.Op {
		s := NewSchedule(seed, []Nemesis{fakeNemesis{}}, []string{"n1", "n2", "n3", "n4", "n5"}, time.Second)
		var ops []history.Op
		for i := 0; i < 50; i++ {
			pf, _ := s.Next()
			pf.Op.Time = int64(pf.At)
			ops = append(ops, pf.Op)
		}
		return ops
	}
	if !reflect.DeepEqual(plan(7), plan(7)) {
		t.Fatal("the same seed planned different faults")
	}
	if reflect.DeepEqual(plan(7), plan(8)) {
		t.Fatal("different seeds planned the same faults")
	}
}

func TestPrepareRejectsBadInput(t *testing.T) {
	reg := fakeRegistry(fakeTarget{}, fakeWorkload{})
	for name, mutate := range map[string]func(*Config){
		"unknown target":   func(c *Config) { c.Target = "nope" },
		"unknown nemesis":  func(c *Config) { c.Nemeses = []string{"nope"} },
		"unknown workload": func(c *Config) { c.Workload = "nope" },
		"negative nodes":   func(c *Config) { c.Nodes = -1 },
		"negative rate":    func(c *Config) { c.Rate = -5 },
	} {
		cfg := fakeConfig(t, &fakeRuntime{})
		mutate(&cfg)
		if _, err := Prepare(reg, cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// BenchmarkRunner measures operations per second through generator, runner
// and history writer with a client that does nothing.
func BenchmarkRunner(b *testing.B) {
	rt := &fakeRuntime{}
	var total int64
	var elapsed time.Duration
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		cfg := fakeConfig(b, rt)
		cfg.Concurrency = 8
		cfg.TimeLimit = time.Second
		p, err := Prepare(fakeRegistry(fakeTarget{}, fakeWorkload{}), cfg)
		if err != nil {
			b.Fatal(err)
		}
		out, err := executeNoCheck(p)
		if err != nil {
			b.Fatal(err)
		}
		// The main phase lasts TimeLimit; set-up and read-back are not
		// what is measured.
		elapsed += cfg.TimeLimit
		total += out
	}
	b.ReportMetric(float64(total)/elapsed.Seconds(), "ops/s")
}

// executeNoCheck runs p and returns the number of operations invoked, timing
// the main phase only: the checkers are not what is measured.
func executeNoCheck(p *Prepared) (int64, error) {
	p.Workload = noCheck{p.Workload}
	out, err := Execute(context.Background(), p)
	if err != nil {
		return 0, err
	}
	return out.Stats.Invoked, nil
}

type noCheck struct{ Workload }

func (noCheck) Checkers(*history.Header) ([]checkers.Checker, error) { return nil, nil }

// stuckTarget's clients block in Invoke until release is closed, ignoring
// their context, as a client library retrying against a dead node can.
func stuckTarget(t *testing.T) fakeTarget {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	return fakeTarget{outcome: func(op history.Op) history.Op {
		<-release
		op.Type = history.OK
		return op
	}}
}

func TestStuckClientIsAbandonedAsInfo(t *testing.T) {
	rt := &fakeRuntime{}
	cfg := fakeConfig(t, rt)
	cfg.Concurrency = 1
	cfg.OpTimeout = 100 * time.Millisecond
	p, err := Prepare(fakeRegistry(stuckTarget(t), fakeWorkload{}), cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var out *Outcome
	go func() {
		defer close(done)
		out, err = Execute(context.Background(), p)
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("a run whose client never returns did not finish")
	}
	if err != nil {
		t.Fatal(err)
	}
	if !rt.tornDown.Load() {
		t.Fatal("no teardown")
	}
	if out.Stats.Abandoned == 0 || out.Stats.Info != out.Stats.Abandoned || out.Stats.Fail != 0 {
		t.Fatalf("stats %+v: want every op abandoned as info", out.Stats)
	}
	hf, err := history.ReadFile(HistoryPath(out.Dir))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, op := range hf.Ops {
		if op.Type == history.Invoke {
			if seen[op.Process] {
				t.Fatalf("process %d invoked again after being abandoned", op.Process)
			}
			seen[op.Process] = true
			continue
		}
		if op.Type != history.Info || !strings.Contains(op.Error, "abandoned") {
			t.Fatalf("completion %v: want info, abandoned", op)
		}
	}
}

func TestInterruptEndsRunWithStuckClient(t *testing.T) {
	rt := &fakeRuntime{}
	cfg := fakeConfig(t, rt)
	cfg.Concurrency = 2
	cfg.TimeLimit = time.Hour
	cfg.OpTimeout = 10 * time.Second // the interrupt, not the op timeout, ends the op
	p, err := Prepare(fakeRegistry(stuckTarget(t), fakeWorkload{}), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = Execute(ctx, p)
	}()
	time.Sleep(200 * time.Millisecond)
	cancel()
	start := time.Now()
	// Bound: the grace (max of 5 s and the op timeout) plus checking and
	// teardown, with room for a loaded machine.
	select {
	case <-done:
		t.Logf("run ended %s after the interrupt", time.Since(start).Round(time.Millisecond))
	case <-time.After(time.Minute):
		t.Fatal("an interrupted run with stuck clients did not end")
	}
	if !rt.tornDown.Load() {
		t.Fatal("no teardown")
	}
}
