// Package chaostest runs chaos scenarios from `go test`, against chaos's own
// targets or against your system with your client plugged into one of chaos's
// workloads. A run that the checkers find invalid (or cannot judge) fails the
// test with the path of its report.html and the command that reruns it.
//
//	func TestMain(m *testing.M) { chaostest.Main(m) }
//
//	func TestMyIDs(t *testing.T) {
//		chaostest.Run(t, chaostest.Scenario{
//			Name:     "my-ids",
//			Workload: "ids",
//			Client:   func(ctx context.Context, c core.ClientConfig) (core.Client, error) { return newMyClient(c.Node) },
//		})
//	}
//
// Runs are kept under $CHAOS_STORE when it is set (point CI's artifact
// upload there); otherwise under a temporary directory that is removed when
// the test passes and kept, with its path logged, when it fails.
//
// A run never outlives its test binary with faults in place: it is stopped
// and torn down (healed, resumed, clocks reset, nodes stopped) ahead of
// go test's -timeout, failing the test with a message that says so, and on
// Ctrl-C or SIGTERM, after which the signal ends the binary as usual.
package chaostest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chaostest/chaos/builtin"
	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/reports"
	"github.com/chaostest/chaos/runtime/local"
)

// StoreEnv names the variable that keeps runs in a fixed directory.
const StoreEnv = "CHAOS_STORE"

// Scenario is one run. Either Target names one of chaos's targets, or Name
// and Client describe your system.
type Scenario struct {
	// Target is a built-in target ("snowflake", see `chaos list`). Leave it
	// empty to test your own system through Client.
	Target string
	// Name names your system in the store and the report; it defaults to
	// the test's name.
	Name string
	// Workload is what the clients do ("ids", see `chaos list`); it defaults
	// to the target's first workload. Your Client must perform that
	// workload's operations.
	Workload string
	// Client opens a client of your system for one worker (cfg.Process)
	// talking to one node (cfg.Node). Required without Target.
	Client func(ctx context.Context, cfg core.ClientConfig) (core.Client, error)
	// Nodes describes your system's processes, so that nemeses can kill,
	// pause and move the clocks of real processes (see core.NodeSpec). Leave
	// it nil when your system runs in-process or elsewhere; nemeses then
	// have nothing to act on and are refused.
	Nodes func(names []string, p core.Params) ([]core.NodeSpec, error)
	// Nemeses are the fault kinds ("clock", "kill", "pause").
	Nemeses []string
	// Params are target, workload and nemesis parameters by flag name.
	Params core.Params
	// Seed fixes every random choice; 0 means 1, so a test is always
	// repeatable.
	Seed int64
	// TimeLimit, NodeCount, Concurrency, Rate and NemesisInterval default to
	// 5s, 3 nodes, 5 workers, 100 ops/s and 1s.
	TimeLimit       time.Duration
	NodeCount       int
	Concurrency     int
	Rate            float64
	NemesisInterval time.Duration
	// Want is the verdict the test expects; the zero value means valid. Set
	// it to checkers.Invalid in a test that shows a known anomaly.
	Want checkers.Validity
	// Registry holds the targets, workloads and nemeses the scenario may
	// name; nil means builtin.New(), every part of the chaos module. A
	// test of the etcd or Redis target passes builtin.New(etcd.Register).
	Registry *core.Registry
	// AllowUnappliedFaults lets the test pass when a fault kind of Nemeses
	// was never applied (every one failed, or none fell in the time limit).
	// By default such a test fails: its faults never happened.
	AllowUnappliedFaults bool
}

// Main runs the test binary as a chaos node program when the local runtime
// starts it as one, and otherwise runs the tests. Call it from TestMain in
// every package that runs built-in targets; extra registers the node
// programs of targets beyond package builtin (etcd.Register, say).
func Main(m *testing.M, extra ...func(*core.Registry)) {
	builtin.RunNodeIfRequested(extra...)
	os.Exit(m.Run())
}

// Result is a finished run.
type Result struct {
	*core.Outcome
	// Report and JUnit are the paths of report.html and junit.xml.
	Report string
	JUnit  string
}

// Run runs the scenario and fails t when the verdict is not the one wanted,
// naming the report. It returns the result for further assertions; after a
// failure it returns nil.
func Run(t testing.TB, s Scenario) *Result {
	t.Helper()
	ctx, interrupted, stop := runContext(t)
	defer stop()
	if s.Want == checkers.Unknown {
		s.Want = checkers.Valid
	}
	reg := s.Registry
	if reg == nil {
		reg = builtin.New()
	}
	cfg, err := s.config(t, reg)
	if err != nil {
		t.Fatalf("chaostest: %v", err)
		return nil
	}
	p, err := core.Prepare(reg, cfg)
	if err != nil {
		t.Fatalf("chaostest: %v", err)
		return nil
	}
	// The store is made only for a run that will happen.
	var temp bool
	if p.Config.Store, temp, err = storeFor(t); err != nil {
		t.Fatalf("chaostest: %v", err)
		return nil
	}
	out, err := core.Execute(ctx, p)
	if why, signalled := interrupted(); why != "" {
		if out != nil && out.Dir != "" {
			why += "; its history is in " + out.Dir
		}
		if signalled {
			// The signal ends the binary as soon as stop sends it again,
			// before the test's log would be shown: say it now.
			fmt.Fprintf(os.Stderr, "chaostest: %s: %s\n", t.Name(), why)
			stop()
		}
		t.Fatalf("chaostest: %s", why)
		return nil
	}
	if err != nil {
		if out != nil && out.Dir != "" {
			t.Logf("chaostest: run directory %s", out.Dir)
		}
		t.Fatalf("chaostest: the run itself failed (not a verdict): %v", err)
		return nil
	}
	res := &Result{Outcome: out}
	for _, ft := range out.Faults {
		t.Logf("chaostest: faults %s", ft)
	}
	rp, rerr := reports.Write(out.Dir, reports.WithRegistry(reg))
	if rerr != nil {
		t.Logf("chaostest: report: %v", rerr)
	} else {
		res.Report, res.JUnit = rp.HTML, rp.JUnit
	}
	if out.Results.Valid != s.Want {
		where := res.Report
		if where == "" {
			where = out.Dir
		}
		t.Fatalf("chaostest: verdict %s, want %s\n%s\nreport: %s\nrerun:  go test -run '^%s$' (seed %d is fixed in the test)",
			strings.ToUpper(out.Results.Valid.String()), s.Want, summary(out.Results), where, regexp.QuoteMeta(t.Name()), cfg.Seed)
		return nil
	}
	if un := core.Unapplied(out.Faults); len(un) > 0 && !s.AllowUnappliedFaults {
		var lines []string
		for _, ft := range un {
			lines = append(lines, core.UnappliedWarning(ft))
		}
		t.Fatalf("chaostest: %s\nreport: %s\n(set Scenario.AllowUnappliedFaults when that is expected)", strings.Join(lines, "\n"), res.Report)
		return nil
	}
	report := res.Report
	if temp {
		// The temporary store goes when the test passes: name no path in it.
		report = "removed with the temporary store (set " + StoreEnv + " to keep it)"
	}
	t.Logf("chaostest: %s, %d ops (%d ok, %d fail, %d info), %d faults (%d applied); report %s",
		out.Results.Valid, out.Stats.Invoked, out.Stats.OK, out.Stats.Fail, out.Stats.Info, out.Stats.Faults, out.Stats.Applied, report)
	return res
}

// deadlineMargin is how long before the test binary's deadline
// (go test -timeout) a run is stopped, at most: time to tear it down and
// check what it recorded before the binary panics. A test close to its
// deadline keeps a quarter of what is left instead.
const deadlineMargin = 30 * time.Second

// signalWait is how long a run stopped by a signal waits, after sending
// the signal again, for it to end the binary.
const signalWait = 5 * time.Second

// runContext bounds a run by its test. The run ends when the test ends,
// ahead of the test binary's deadline, and on SIGINT or SIGTERM, so that
// in each case it heals and tears down before the binary exits, instead of
// being cut off mid-fault with its processes, partitions and clocks left
// as they were. interrupted says why the run was stopped early ("" when it
// was not) and whether a signal stopped it; stop ends the watch, and after
// a signal sends the signal again, so the binary then ends as the user
// asked.
func runContext(t testing.TB) (ctx context.Context, interrupted func() (why string, signalled bool), stop func()) {
	ctx, cancel := context.WithCancelCause(t.Context())
	var mu sync.Mutex
	why := ""
	end := func(s string) {
		mu.Lock()
		if why == "" {
			why = s
		}
		mu.Unlock()
		cancel(errors.New(s))
	}
	var timer *time.Timer
	if dt, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if deadline, ok := dt.Deadline(); ok {
			margin := min(deadlineMargin, time.Until(deadline)/4)
			timer = time.AfterFunc(time.Until(deadline)-margin, func() {
				end(fmt.Sprintf("the run was stopped %s before the test binary's deadline (%s) and torn down; "+
					"give go test a longer -timeout, or the scenario a shorter TimeLimit", margin.Round(time.Second), deadline.Format(time.TimeOnly)))
			})
		}
	}
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	var got os.Signal
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-sigc:
			mu.Lock()
			got = sig
			mu.Unlock()
			end(fmt.Sprintf("interrupted by %s: the run was torn down", sig))
		case <-done:
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			signal.Stop(sigc)
			close(done)
			if timer != nil {
				timer.Stop()
			}
			mu.Lock()
			sig := got
			mu.Unlock()
			if sig != nil {
				if p, err := os.FindProcess(os.Getpid()); err == nil && p.Signal(sig) == nil {
					// The signal ends the binary a moment later; the
					// test must not finish first and exit on its own.
					// Another run watching for it catches it instead,
					// and this one goes on after a while.
					time.Sleep(signalWait)
				}
			}
			cancel(nil)
		})
	}
	return ctx, func() (string, bool) { mu.Lock(); defer mu.Unlock(); return why, got != nil }, stop
}

func summary(rs checkers.Results) string {
	var b strings.Builder
	for _, w := range rs.Warnings {
		fmt.Fprintf(&b, "  warning: %s\n", w)
	}
	for _, n := range rs.Names() {
		r := rs.Checkers[n]
		fmt.Fprintf(&b, "  %s: %s: %s", n, r.Valid, r.Summary)
		if r.Error != "" {
			fmt.Fprintf(&b, " (%s)", r.Error)
		}
		b.WriteByte('\n')
		for i, a := range r.Anomalies {
			if i == 3 {
				fmt.Fprintf(&b, "    ... %d more in the report\n", len(r.Anomalies)-3)
				break
			}
			fmt.Fprintf(&b, "    %s: %s\n", a.Kind, a.Message)
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// config turns the scenario into a run configuration, registering the
// user's system as a target when there is one.
func (s Scenario) config(t testing.TB, reg *core.Registry) (core.Config, error) {
	cfg := core.Config{Target: s.Target, Workload: s.Workload, Nodes: s.NodeCount, Concurrency: s.Concurrency,
		TimeLimit: s.TimeLimit, Rate: s.Rate, Nemeses: s.Nemeses, NemesisInterval: s.NemesisInterval,
		Seed: s.Seed, Params: core.Params{}, Command: []string{"go", "test", "-run", "^" + t.Name() + "$"},
		AllowUnappliedFaults: s.AllowUnappliedFaults,
		NewRuntime:           func() (core.Runtime, error) { return local.New() }}
	for k, v := range s.Params {
		cfg.Params[k] = v
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	if cfg.TimeLimit == 0 {
		cfg.TimeLimit = 5 * time.Second
	}
	if cfg.Rate == 0 {
		cfg.Rate = 100
	}
	if cfg.NemesisInterval == 0 {
		cfg.NemesisInterval = time.Second
	}
	switch {
	case s.Target != "" && s.Client != nil:
		return cfg, errors.New("Scenario: set Target (a built-in system) or Client (yours), not both")
	case s.Target != "":
		return cfg, nil
	case s.Client == nil:
		return cfg, errors.New("Scenario: set Target to a built-in system, or Client to test yours")
	case s.Workload == "":
		return cfg, errors.New("Scenario: Client needs a Workload whose operations it performs (see `chaos list`)")
	case len(s.Nemeses) > 0 && s.Nodes == nil:
		return cfg, fmt.Errorf("Scenario: nemeses %s need Nodes: describe your system's processes so faults have something to act on", strings.Join(s.Nemeses, ", "))
	}
	name := s.Name
	if name == "" {
		name = strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "-"))
	}
	cfg.Target = name
	reg.AddTarget(core.TargetInfo{Name: name, Summary: "system under test of " + t.Name(), Workloads: []string{s.Workload},
		Nemeses: s.Nemeses, New: func(core.Params) (core.Target, error) { return userTarget{s}, nil }})
	return cfg, nil
}

// userTarget adapts a Scenario's client and nodes to core.Target.
type userTarget struct{ s Scenario }

func (u userTarget) Nodes(names []string, p core.Params) ([]core.NodeSpec, error) {
	if u.s.Nodes == nil {
		return nil, nil
	}
	return u.s.Nodes(names, p)
}

func (u userTarget) NewClient(ctx context.Context, _ string, cfg core.ClientConfig) (core.Client, error) {
	return u.s.Client(ctx, cfg)
}

// storeFor picks where runs go: $CHAOS_STORE, or a temporary directory kept
// only when the test fails.
func storeFor(t testing.TB) (dir string, temp bool, err error) {
	if s := os.Getenv(StoreEnv); s != "" {
		return s, false, nil
	}
	dir, err = os.MkdirTemp("", "chaostest-")
	if err != nil {
		return "", false, fmt.Errorf("create a store: %w", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("chaostest: runs kept in %s (set %s to choose the place)", dir, StoreEnv)
			return
		}
		_ = os.RemoveAll(dir)
	})
	return filepath.Clean(dir), true, nil
}
