package core

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/internal/term"
	"github.com/chaostest/chaos/workloads/gen"
)

// Config is one test run. Zero fields take the defaults of DefaultConfig.
type Config struct {
	// Target names the system under test; Workload what clients do (empty:
	// the target's default).
	Target   string
	Workload string
	// Nodes is the cluster size; Concurrency the number of workers.
	Nodes       int
	Concurrency int
	// TimeLimit bounds the main phase, the one with faults.
	TimeLimit time.Duration
	// Rate is the total operations per second over all workers; 0 means as
	// fast as the system answers.
	Rate float64
	// Nemeses are the fault kinds to inject; empty means none.
	Nemeses         []string
	NemesisInterval time.Duration
	// Seed drives every random choice of the run.
	Seed int64
	// Store is the directory under which runs are kept.
	Store string
	// Params are target, workload and nemesis parameters by name.
	Params Params
	// OpTimeout bounds one operation; past it the outcome is info.
	OpTimeout time.Duration
	// FinalTimeout bounds the final phase after the heal.
	FinalTimeout time.Duration
	// CheckTimeout bounds the checkers; past it the verdict is unknown.
	CheckTimeout time.Duration
	// CheckMemory bounds the heap the checkers' searches may grow to (0:
	// checkers.DefaultMemoryBudget); past it the verdict is unknown.
	CheckMemory int64
	// StopOnAnomaly ends the main phase as soon as a checker that judges
	// online (checkers.Online) proves an anomaly; heal, final phase,
	// teardown and the full check run as usual.
	StopOnAnomaly bool
	// NewRuntime makes the runtime for a run.
	NewRuntime func() (Runtime, error)
	// Runtime names the registered runtime NewRuntime makes; when set,
	// Prepare refuses a target whose Needs that runtime does not provide.
	// Empty: not checked (a runtime made by hand).
	Runtime string
	// Clock is the harness's clock; nil means the host's.
	Clock Clock
	// Progress receives a status line every ProgressInterval; nil is silent.
	Progress         io.Writer
	ProgressInterval time.Duration
	// Command is the command line that started the run, stored with it.
	Command []string
	// AllowUnappliedFaults keeps a valid verdict when a requested fault kind
	// was never applied. By default such a run is judged unknown: it says
	// nothing about the faults it asked for.
	AllowUnappliedFaults bool
	// Scenario names the named scenario this run plays (nil: none); it is
	// stored in config.json with whether the verdict matched.
	Scenario *ScenarioRun
}

// DefaultConfig is a short, gentle run: 3 nodes, 5 workers, 10 s, 100 ops/s.
func DefaultConfig() Config {
	return Config{Nodes: 3, Concurrency: 5, TimeLimit: 10 * time.Second, Rate: 100,
		NemesisInterval: 2 * time.Second, Store: "store", OpTimeout: time.Second,
		FinalTimeout: 30 * time.Second, CheckTimeout: 5 * time.Minute, ProgressInterval: time.Second}
}

func (c *Config) fillDefaults() {
	d := DefaultConfig()
	c.Nodes = cmp.Or(c.Nodes, d.Nodes)
	c.Concurrency = cmp.Or(c.Concurrency, d.Concurrency)
	c.TimeLimit = cmp.Or(c.TimeLimit, d.TimeLimit)
	c.NemesisInterval = cmp.Or(c.NemesisInterval, d.NemesisInterval)
	c.Store = cmp.Or(c.Store, d.Store)
	c.OpTimeout = cmp.Or(c.OpTimeout, d.OpTimeout)
	c.FinalTimeout = cmp.Or(c.FinalTimeout, d.FinalTimeout)
	c.CheckTimeout = cmp.Or(c.CheckTimeout, d.CheckTimeout)
	c.ProgressInterval = cmp.Or(c.ProgressInterval, d.ProgressInterval)
	if c.Clock == nil {
		c.Clock = RealClock{}
	}
	if c.Params == nil {
		c.Params = Params{}
	}
}

// Validate reports the first thing wrong with the configuration, in terms of
// the command-line flags: what is wrong, and what to give instead. Prepare
// validates after filling in the defaults, so a zero there means "not
// given"; a command line that starts from DefaultConfig validates before, so
// that a flag given as zero is refused instead of replaced.
func (c *Config) Validate() error {
	d := DefaultConfig()
	switch {
	case c.Nodes < 1 || c.Nodes > 1000:
		return fmt.Errorf("--nodes %d: must be between 1 and 1000 (leave it out for %d)", c.Nodes, d.Nodes)
	case c.Concurrency < 1 || c.Concurrency > 10000:
		return fmt.Errorf("--concurrency %d: must be between 1 and 10000 (leave it out for %d)", c.Concurrency, d.Concurrency)
	case c.TimeLimit <= 0:
		return fmt.Errorf("--time-limit %s: must be positive (leave it out for %s)", c.TimeLimit, d.TimeLimit)
	case math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) || c.Rate < 0:
		return fmt.Errorf("--rate %g: must be zero (as fast as the target answers) or a positive number of operations per second", c.Rate)
	case c.Rate > 0 && c.Rate < minRate(c.Concurrency):
		return fmt.Errorf("--rate %g: too small, one operation per worker every %.3g s does not fit the clock; give at least %.3g (or 0 for no limit)",
			c.Rate, float64(c.Concurrency)/c.Rate, minRate(c.Concurrency))
	case c.NemesisInterval <= 0:
		return fmt.Errorf("--nemesis-interval %s: must be positive (leave it out for %s)", c.NemesisInterval, d.NemesisInterval)
	case c.OpTimeout <= 0:
		return fmt.Errorf("--op-timeout %s: must be positive (leave it out for %s)", c.OpTimeout, d.OpTimeout)
	case c.FinalTimeout <= 0:
		return fmt.Errorf("final timeout %s: must be positive (leave it out for %s)", c.FinalTimeout, d.FinalTimeout)
	case c.CheckTimeout <= 0:
		return fmt.Errorf("--check-timeout %s: must be positive (leave it out for %s)", c.CheckTimeout, d.CheckTimeout)
	case c.ProgressInterval <= 0:
		return fmt.Errorf("progress interval %s: must be positive", c.ProgressInterval)
	case strings.TrimSpace(c.Store) == "":
		return fmt.Errorf("--store %q: must name a directory (leave it out for %q)", c.Store, d.Store)
	case c.NewRuntime == nil:
		return errors.New("no runtime: Config.NewRuntime is nil")
	}
	return nil
}

// minRate is the smallest positive rate whose pause between one worker's
// operations (up to twice the mean, see staggerDelay) fits a time.Duration.
func minRate(concurrency int) float64 {
	return 2 * float64(max(concurrency, 1)) * float64(time.Second) / float64(math.MaxInt64) * 1.01
}

// Stats are the running tallies of a run. Faults counts the faults
// invoked (heals apart), Applied those that took effect.
type Stats struct {
	Invoked, OK, Fail, Info, Faults int64
	Applied, Heals                  int64
	// Abandoned counts ops whose client had not returned past the op
	// timeout and a grace; each is also counted in Info.
	Abandoned int64
}

// Outcome is what a finished run leaves.
type Outcome struct {
	Dir         string
	Results     checkers.Results
	Stats       Stats
	Interrupted bool
	Elapsed     time.Duration
	// Faults tallies, per fault kind, the faults planned, applied, failed.
	Faults []FaultTally
	// Warnings are bookkeeping steps that failed after the verdict was
	// reached (results.json, the latest link): the verdict stands.
	Warnings []string
}

// Prepared is a run whose parts are resolved but not yet started: the
// target, the workload, the nemeses and the full parameter set.
type Prepared struct {
	Config     Config
	TargetInfo TargetInfo
	Target     Target
	Workload   Workload
	Nemeses    []Nemesis
	Nodes      []string
	// Specs are the target's node specs for Nodes, as the nemeses were
	// checked against them.
	Specs []NodeSpec
}

// Prepare resolves a configuration against the registry and checks it, so
// that bad input fails before anything is started or written.
func Prepare(reg *Registry, cfg Config) (*Prepared, error) {
	cfg.fillDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ti, err := reg.Target(cfg.Target)
	if err != nil {
		return nil, err
	}
	if cfg.Runtime != "" {
		// Nothing has started yet, and nothing will on a runtime that
		// cannot run the target's nodes.
		if err := reg.CanRun(cfg.Runtime, ti); err != nil {
			return nil, err
		}
	}
	if cfg.Workload == "" {
		if len(ti.Workloads) == 0 {
			return nil, fmt.Errorf("target %s has no workload", ti.Name)
		}
		cfg.Workload = ti.Workloads[0]
	}
	if !contains(ti.Workloads, cfg.Workload) {
		return nil, fmt.Errorf("--workload %s: target %s runs %s", cfg.Workload, ti.Name, strings.Join(ti.Workloads, ", "))
	}
	wi, err := reg.Workload(cfg.Workload)
	if err != nil {
		return nil, err
	}
	params := Params{}
	addDefaults(params, ti.Params)
	for _, k := range sortedKeys(ti.WorkloadDefaults) {
		if _, ok := params[k]; !ok {
			params[k] = ti.WorkloadDefaults[k]
		}
	}
	addDefaults(params, wi.Params)
	declared := newParamSet()
	declared.add("target "+ti.Name, ti.Params)
	declared.add("workload "+wi.Name, wi.Params)
	var nis []NemesisInfo
	for _, name := range cfg.Nemeses {
		if name == "" || name == "none" {
			continue
		}
		ni, err := reg.Nemesis(name)
		if err != nil {
			return nil, err
		}
		if len(ti.Nemeses) > 0 && !contains(ti.Nemeses, name) {
			return nil, fmt.Errorf("--nemesis %s: target %s supports %s", name, ti.Name, strings.Join(ti.Nemeses, ", "))
		}
		addDefaults(params, ni.Params)
		declared.add("nemesis "+ni.Name, ni.Params)
		nis = append(nis, ni)
	}
	given, err := declared.resolve(cfg.Params, reg.allParams())
	if err != nil {
		return nil, err
	}
	for k, v := range given {
		params[k] = v
	}
	cfg.Params = params
	if err := CheckStore(cfg.Store, ti.Name); err != nil {
		return nil, err
	}
	p := &Prepared{Config: cfg, TargetInfo: ti}
	// The parts of this run share their run-scoped values (RunValue), and
	// no other run's.
	err = reg.building(func() error {
		var err error
		if p.Target, err = ti.New(params); err != nil {
			return fmt.Errorf("target %s: %w", ti.Name, err)
		}
		if p.Workload, err = wi.New(params); err != nil {
			return fmt.Errorf("workload %s: %w", wi.Name, err)
		}
		for _, ni := range nis {
			n, err := ni.New(params)
			if err != nil {
				return fmt.Errorf("nemesis %s: %w", ni.Name, err)
			}
			p.Nemeses = append(p.Nemeses, n)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := 1; i <= cfg.Nodes; i++ {
		p.Nodes = append(p.Nodes, fmt.Sprintf("n%d", i))
	}
	if len(p.Nemeses) > 0 {
		// A fault the nodes cannot take is refused now, not recorded later
		// as a fault that never happened.
		if p.Specs, err = p.Target.Nodes(p.Nodes, params); err != nil {
			return nil, fmt.Errorf("target %s: %w", ti.Name, err)
		}
		if err := checkNemeses(p.Nemeses, p.Specs); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func addDefaults(p Params, ps []Param) {
	for _, x := range ps {
		if _, ok := p[x.Name]; !ok {
			p[x.Name] = x.Default
		}
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// run is the state of one execution.
type run struct {
	p     *Prepared
	cfg   *Config
	rt    Runtime
	hist  *history.Writer
	start time.Time
	stats Stats
	dir   string
	fault atomic.Value // string: the fault in place now
	phase atomic.Value // string: main, heal, final

	tallyMu sync.Mutex
	tally   *tallies
	// triggers are the event-triggered nemeses (nil: none).
	triggers *triggers

	// online is nil unless the run stops on the first anomaly.
	online *online

	// The first harness failure ends the run.
	failOnce sync.Once
	failErr  error
	failed   chan struct{}
}

// Execute performs a prepared run: it starts the nodes, drives the workers and
// the nemesis, heals, runs the final phase, tears everything down, and then
// judges the history as read back from disk. Teardown happens whatever
// happens, panics included. An error means the harness itself failed.
func Execute(ctx context.Context, p *Prepared) (out *Outcome, err error) {
	cfg := &p.Config
	rt, err := cfg.NewRuntime()
	if err != nil {
		return nil, fmt.Errorf("runtime: %w", err)
	}
	dropRuntime := func(err error) (*Outcome, error) {
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_ = rt.Teardown(tctx)
		return nil, err
	}
	// The runtime may refuse a fault kind; then nothing is written.
	if err := checkRuntime(rt, p.Nemeses, p.Specs); err != nil {
		return dropRuntime(err)
	}
	dir, err := NewRunDir(cfg.Store, p.TargetInfo.Name, cfg.Clock.Now())
	if err != nil {
		return dropRuntime(err)
	}
	start := cfg.Clock.Now()
	hdr := history.Header{RunID: runID(dir), Target: p.TargetInfo.Name, Workload: cfg.Workload,
		Nodes: p.Nodes, Nemeses: nemesisNames(p.Nemeses), Seed: cfg.Seed, Start: start, Params: cfg.Params,
		Runtime: rt.Name()}
	// Until the history exists the run directory holds nothing worth
	// keeping: a failure here removes it, so no empty run is left behind.
	abandon := func(rt Runtime, err error) (*Outcome, error) {
		if rt != nil {
			tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			_ = rt.Teardown(tctx)
			cancel()
		}
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := WriteConfig(dir, cfg, hdr); err != nil {
		return abandon(rt, err)
	}
	hw, err := history.Create(HistoryPath(dir), hdr)
	if err != nil {
		return abandon(rt, err)
	}
	r := &run{p: p, cfg: cfg, rt: rt, hist: hw, start: start, dir: dir, failed: make(chan struct{}),
		tally: newTallies(p.Nemeses)}
	r.fault.Store("")
	r.phase.Store("main phase")
	r.triggers = newTriggers(p)
	r.online = r.startOnline(ctx, &hdr)
	defer r.online.close()
	out = &Outcome{Dir: dir}

	tornDown := false
	teardown := func() error {
		if tornDown {
			return nil
		}
		tornDown = true
		// Teardown must run even when ctx is already cancelled (Ctrl-C).
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		terr := rt.Teardown(tctx)
		if herr := hw.Close(); terr == nil && herr != nil {
			terr = herr
		}
		return terr
	}
	defer func() {
		if pv := recover(); pv != nil {
			_ = teardown()
			panic(pv)
		}
		if terr := teardown(); terr != nil && err == nil {
			err = fmt.Errorf("teardown: %w", terr)
		}
	}()

	if err := r.setup(ctx); err != nil {
		return out, err
	}
	stopProgress := r.progress()
	interrupted, err := r.phases(ctx)
	stopProgress()
	if err != nil {
		return out, err
	}
	out.Interrupted = interrupted
	out.Stats = r.snapshot()
	out.Faults = r.faultTally()
	out.Elapsed = cfg.Clock.Now().Sub(start)
	if err := teardown(); err != nil {
		return out, fmt.Errorf("teardown: %w", err)
	}

	res, _, err := CheckDir(checkContext(ctx, *cfg), dir, p.Workload, cfg.CheckTimeout)
	if err != nil {
		return out, err
	}
	JudgeFaults(&res, out.Faults, cfg.AllowUnappliedFaults)
	out.Results = res
	// The verdict is reached: a failure to store it must not lose it.
	if err := WriteStoredResults(dir, StoredResults{Results: res, Faults: out.Faults,
		Run: &RunTotals{ElapsedS: out.Elapsed.Seconds(), Ops: out.Stats.Invoked}}); err != nil {
		out.Warnings = append(out.Warnings, fmt.Sprintf("the verdict could not be stored: %v (`chaos check %s` judges the run again)", err, dir))
	}
	if err := RecordMatch(dir, cfg.Scenario, res.Valid); err != nil {
		return out, err
	}
	if err := LinkLatest(cfg.Store, p.TargetInfo.Name, dir); err != nil {
		out.Warnings = append(out.Warnings, err.Error())
	}
	return out, nil
}

func nemesisNames(ns []Nemesis) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Name())
	}
	return out
}

func (r *run) setup(ctx context.Context) error {
	specs, err := r.p.Target.Nodes(r.p.Nodes, r.cfg.Params)
	if err != nil {
		return fmt.Errorf("target %s: %w", r.p.TargetInfo.Name, err)
	}
	if err := r.rt.Setup(ctx, r.dir, specs); err != nil {
		return fmt.Errorf("runtime setup: %w", err)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(specs))
	for i, s := range specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.rt.Start(ctx, s.Name); err != nil {
				errs[i] = fmt.Errorf("start node %s: %w", s.Name, err)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil && ctx.Err() != nil {
		// Every node fails the same way when the run is interrupted: say
		// that, not what each node was doing at the time.
		why := ""
		if c := context.Cause(ctx); c != nil && c != ctx.Err() {
			why = " (" + c.Error() + ")"
		}
		return fmt.Errorf("interrupted while the nodes were starting%s; nothing ran", why)
	}
	return errors.Join(errs...)
}

func (r *run) now() int64 { return int64(r.cfg.Clock.Now().Sub(r.start)) }

func (r *run) record(op history.Op) history.Op {
	rec, err := r.hist.AppendAt(op, r.now)
	if err != nil {
		r.fail(err)
	} else {
		r.online.observe(rec)
	}
	return rec
}

// fail notes the first harness failure; the run stops at the next chance.
func (r *run) fail(err error) {
	r.failOnce.Do(func() {
		r.failErr = err
		close(r.failed)
	})
}

// phases runs main (with faults), heal, and final. interrupted reports that
// ctx ended (Ctrl-C) before the run finished on its own.
func (r *run) phases(ctx context.Context) (interrupted bool, err error) {
	workers := make([]*worker, r.cfg.Concurrency)
	for i := range workers {
		workers[i] = r.newWorker(i)
	}
	r.openClients(ctx, workers)
	mainCtx, cancelMain := context.WithTimeout(ctx, r.cfg.TimeLimit)
	defer cancelMain()
	go func() {
		select {
		case <-mainCtx.Done():
		case <-r.failed:
			cancelMain()
		case name := <-r.online.anomaly():
			if r.cfg.Progress != nil {
				fmt.Fprintf(r.cfg.Progress, "stopping on anomaly at %.1fs: %s\n", time.Duration(r.now()).Seconds(), term.Line(r.online.describe(name)))
			}
			cancelMain()
		}
	}()
	// Operations in flight when the main phase ends may finish: they run
	// under opCtx, which only an interrupt ends.
	opCtx := ctx

	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.main(mainCtx, opCtx)
		}()
	}
	nemDone := make(chan struct{})
	go func() {
		defer close(nemDone)
		r.nemesisLoop(mainCtx)
	}()
	wg.Wait()
	<-nemDone
	cancelMain()

	healCtx, cancelHeal := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	r.heal(healCtx)
	cancelHeal()

	if ctx.Err() == nil {
		r.final(ctx, workers)
	}
	for _, w := range workers {
		w.closeClients()
	}
	select {
	case <-r.failed:
		return ctx.Err() != nil, r.failErr
	default:
	}
	return ctx.Err() != nil, nil
}

// openClients opens every worker's client to its own node before the main
// phase's clock starts, so that a client slow to start (an interpreter on a
// loaded machine) does not spend the time the faults are given. A client
// that cannot open is left to the worker's first operation, which records
// why.
func (r *run) openClients(ctx context.Context, workers []*worker) {
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = w.client(ctx, w.gc.Node)
		}()
	}
	wg.Wait()
}

func (r *run) nemesisLoop(ctx context.Context) {
	trigDone := make(chan struct{})
	go func() {
		defer close(trigDone)
		r.triggerLoop(ctx)
	}()
	defer func() { <-trigDone }()
	sched := NewSchedule(r.cfg.Seed, periodic(r.p.Nemeses), r.p.Nodes, r.cfg.NemesisInterval)
	// The schedule counts from the start of the main phase: a runtime whose
	// nodes take long to start (containers) must not get the faults planned
	// for that time all at once.
	base := time.Duration(r.now())
	for {
		pf, ok := sched.NextBefore(r.cfg.TimeLimit)
		if !ok {
			return
		}
		wait := base + pf.At - time.Duration(r.now())
		if err := r.cfg.Clock.Sleep(ctx, wait); err != nil {
			return
		}
		r.applyFault(ctx, pf.Nemesis, pf.Op, false)
	}
}

// applyFault records, applies and records the outcome of one planned
// operation of n; healing marks an operation of the final heal, never a
// fault.
func (r *run) applyFault(ctx context.Context, n Nemesis, op history.Op, healing bool) {
	op.Process = history.NemesisProcess
	op.Type = history.Invoke
	inv := r.record(op)
	heal := healing || IsHeal(n, inv)
	if !heal {
		atomic.AddInt64(&r.stats.Faults, 1)
		r.fault.Store(strings.TrimSpace(inv.F+" "+inv.Node) + " (in progress)")
	}
	done := safeApply(ctx, r.rt, n, inv)
	done.Index, done.Process, done.F = 0, history.NemesisProcess, inv.F
	if done.Node == "" {
		done.Node = inv.Node
	}
	if !done.Type.Completion() {
		done.Type = history.Info
	}
	rec := r.record(done)
	switch {
	case heal:
		atomic.AddInt64(&r.stats.Heals, 1)
	case rec.Type == history.OK:
		atomic.AddInt64(&r.stats.Applied, 1)
	}
	r.tallyMu.Lock()
	r.tally.add(n.Name(), heal, rec.Type)
	r.tallyMu.Unlock()
	desc := inv.F
	if inv.Node != "" {
		desc += " " + inv.Node
	}
	if rec.Type != history.OK {
		desc += " (" + string(rec.Type) + ")"
	}
	r.fault.Store(desc)
}

func safeApply(ctx context.Context, rt Runtime, n Nemesis, op history.Op) (done history.Op) {
	defer func() {
		if pv := recover(); pv != nil {
			done = op
			done.Type = history.Info
			done.Error = fmt.Sprintf("nemesis %s panicked: %v", n.Name(), pv)
		}
	}()
	return n.Apply(ctx, rt, op)
}

func (r *run) faultTally() []FaultTally {
	r.tallyMu.Lock()
	defer r.tallyMu.Unlock()
	return r.tally.list()
}

// JudgeFaults adds a warning for every requested fault kind that was never
// applied and, unless allowed, turns a valid verdict into unknown: a run
// whose faults never happened says nothing about them.
func JudgeFaults(rs *checkers.Results, ts []FaultTally, allow bool) {
	un := Unapplied(ts)
	for _, t := range un {
		rs.Warnings = append(rs.Warnings, UnappliedWarning(t))
	}
	if len(un) > 0 && !allow && rs.Valid == checkers.Valid {
		rs.Valid = checkers.Unknown
		rs.Warnings = append(rs.Warnings, "verdict unknown, not valid: a requested fault kind was never applied")
	}
}

func (r *run) heal(ctx context.Context) {
	r.phase.Store("heal")
	for _, n := range r.p.Nemeses {
		for _, op := range n.HealOps(r.p.Nodes) {
			r.applyFault(ctx, n, op, true)
		}
	}
	if len(r.p.Nemeses) > 0 {
		r.fault.Store("healed")
	}
}

func (r *run) final(ctx context.Context, workers []*worker) {
	ops := r.p.Workload.Final(r.p.Nodes)
	if len(ops) == 0 {
		return
	}
	r.phase.Store("final phase")
	fctx, cancel := context.WithTimeout(ctx, r.cfg.FinalTimeout)
	defer cancel()
	ch := make(chan history.Op)
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for op := range ch {
				w.perform(fctx, op)
			}
		}()
	}
	for _, op := range ops {
		select {
		case ch <- op:
		case <-fctx.Done():
		}
		if fctx.Err() != nil {
			break
		}
	}
	close(ch)
	wg.Wait()
}

func (r *run) snapshot() Stats {
	return Stats{Invoked: atomic.LoadInt64(&r.stats.Invoked), OK: atomic.LoadInt64(&r.stats.OK),
		Fail: atomic.LoadInt64(&r.stats.Fail), Info: atomic.LoadInt64(&r.stats.Info),
		Faults: atomic.LoadInt64(&r.stats.Faults), Applied: atomic.LoadInt64(&r.stats.Applied),
		Heals: atomic.LoadInt64(&r.stats.Heals), Abandoned: atomic.LoadInt64(&r.stats.Abandoned)}
}

func (r *run) progress() (stop func()) {
	if r.cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(r.cfg.ProgressInterval)
		defer t.Stop()
		var last int64
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			s := r.snapshot()
			el := time.Duration(r.now())
			rate := float64(s.Invoked-last) / r.cfg.ProgressInterval.Seconds()
			last = s.Invoked
			fault, _ := r.fault.Load().(string)
			if fault == "" {
				fault = "none yet"
			}
			phase, _ := r.phase.Load().(string)
			if phase == "main phase" && el > r.cfg.TimeLimit {
				// Operations in flight finish past the limit.
				phase = "main phase ending"
			}
			fmt.Fprintf(r.cfg.Progress, "[%5.1fs/%s %s] %d ops (%.0f/s)  ok %d  fail %d  info %d  faults %d (%d applied)  last fault: %s\n",
				el.Seconds(), r.cfg.TimeLimit, phase, s.Invoked, rate, s.OK, s.Fail, s.Info, s.Faults, s.Applied, fault)
		}
	}()
	return func() { close(done); <-finished }
}

// worker is one logical client thread.
type worker struct {
	r       *run
	gc      gen.Context
	gen     gen.Generator
	clients map[string]Client
}

func (r *run) newWorker(i int) *worker {
	nodes := r.p.Nodes
	serving := nodes
	if cn, ok := r.p.Target.(ClientNoder); ok {
		if s := cn.ClientNodes(nodes); len(s) > 0 {
			serving = s
		}
	}
	return &worker{r: r, gen: r.p.Workload.Generator(i), clients: map[string]Client{},
		gc: gen.Context{Rand: gen.NewRand(r.cfg.Seed, "worker", i), Worker: i, Process: i,
			Node: serving[i%len(serving)], Nodes: nodes}}
}

func (w *worker) main(mainCtx, opCtx context.Context) {
	phaseStart := w.r.cfg.Clock.Now()
	for {
		if d := staggerDelay(w.gc.Rand, w.r.cfg.Concurrency, w.r.cfg.Rate); d > 0 {
			if err := w.r.cfg.Clock.Sleep(mainCtx, d); err != nil {
				return
			}
		}
		if mainCtx.Err() != nil {
			return
		}
		w.gc.Elapsed = w.r.cfg.Clock.Now().Sub(phaseStart)
		op, ok := w.gen.Next(&w.gc)
		if !ok {
			return
		}
		w.perform(opCtx, op)
	}
}

// perform records the invocation, calls the client and records the
// completion. After an indeterminate outcome the worker continues as a new
// process: the old one may still be in flight.
func (w *worker) perform(ctx context.Context, op history.Op) history.Op {
	r := w.r
	if op.Node == "" {
		op.Node = w.gc.Node
	}
	op.Process = w.gc.Process
	op.Type = history.Invoke
	inv := r.recordEvent(op)
	atomic.AddInt64(&r.stats.Invoked, 1)

	done := w.invoke(ctx, inv)
	done.Process, done.F, done.Node = inv.Process, inv.F, inv.Node
	if done.Key == "" {
		done.Key = inv.Key
	}
	rec := r.recordEvent(done)
	switch rec.Type {
	case history.OK:
		atomic.AddInt64(&r.stats.OK, 1)
	case history.Fail:
		atomic.AddInt64(&r.stats.Fail, 1)
	default:
		atomic.AddInt64(&r.stats.Info, 1)
		w.gc.Process += r.cfg.Concurrency
		w.closeClients()
	}
	return rec
}

func (w *worker) invoke(ctx context.Context, inv history.Op) (done history.Op) {
	r := w.r
	c, err := w.client(ctx, inv.Node)
	if err != nil {
		// Nothing was sent: the operation definitely did not happen.
		done = inv
		done.Type, done.Error, done.Value = history.Fail, "open client: "+err.Error(), nil
		return done
	}
	octx, cancel := context.WithTimeout(ctx, r.cfg.OpTimeout)
	defer cancel()
	// The client runs on its own goroutine so that one that ignores its
	// context cannot hold the worker (and with it the phase, the teardown
	// and Ctrl-C): past the op timeout and a grace the op is abandoned as
	// info, and the client is left to its goroutine, which closes it if
	// the call ever returns. The worker goes on as a new process with a
	// new client.
	ch := make(chan history.Op, 1)
	go func() {
		var out history.Op
		defer func() {
			if pv := recover(); pv != nil {
				out = inv
				out.Type, out.Value = history.Info, nil
				out.Error = fmt.Sprintf("client panicked: %v", pv)
				r.fail(fmt.Errorf("client of %s panicked on %s: %v\n%s", r.p.TargetInfo.Name, inv.F, pv, debug.Stack()))
			}
			ch <- out
		}()
		out = c.Invoke(octx, inv)
	}()
	select {
	case done = <-ch:
	case <-octx.Done():
		g := abandonGrace(r.cfg.OpTimeout)
		if ctx.Err() != nil {
			g = interruptGrace // the run is ending: do not wait out a long op timeout's grace
		}
		grace := time.NewTimer(g)
		select {
		case done = <-ch:
			grace.Stop()
		case <-grace.C:
			w.abandon(inv.Node, c, ch)
			done = inv
			done.Type, done.Value = history.Info, nil
			done.Error = fmt.Sprintf("client did not return within %s after its context ended (op timeout %s); abandoned", g, r.cfg.OpTimeout)
			atomic.AddInt64(&r.stats.Abandoned, 1)
			return done
		}
	}
	if bc, ok := c.(BrokenClient); ok {
		if err := bc.Broken(); err != nil {
			r.fail(fmt.Errorf("client of %s: %w", r.p.TargetInfo.Name, err))
		}
	}
	if !done.Type.Completion() {
		done.Type = history.Info
		done.Error = strings.TrimSpace(done.Error + " (client returned no outcome)")
	}
	return done
}

func (w *worker) client(ctx context.Context, node string) (Client, error) {
	if c, ok := w.clients[node]; ok {
		return c, nil
	}
	r := w.r
	endpoint := ClientEndpoint(w.gc.Worker)
	c, err := r.p.Target.NewClient(ctx, r.cfg.Workload, ClientConfig{
		Process: w.gc.Process, Endpoint: endpoint, Node: node, Nodes: r.p.Nodes,
		Addr:   func(n, port string) (string, error) { return r.rt.Addr(endpoint, n, port) },
		Params: r.cfg.Params, OpTimeout: r.cfg.OpTimeout,
	})
	if err != nil {
		return nil, err
	}
	w.clients[node] = c
	return c, nil
}

// abandonGrace is how long past its op timeout a client call may take to
// return before the runner abandons it: long enough for a client that
// honours its context to notice and clean up on a loaded machine.
func abandonGrace(opTimeout time.Duration) time.Duration {
	return max(5*time.Second, opTimeout)
}

// interruptGrace is the grace when the run itself was interrupted.
const interruptGrace = 3 * time.Second

// abandon forgets the client of a call that has not returned. Closing it
// now would race with the call still inside it, so the call's goroutine
// closes it when (if ever) the call returns; the runtime's teardown ends
// whatever the client talks to either way.
func (w *worker) abandon(node string, c Client, ch <-chan history.Op) {
	delete(w.clients, node) // c is the node's client: invoke took it from there
	go func() {
		<-ch
		_ = c.Close()
	}()
}

// closeWait bounds how long closing a worker's clients may take: a Close
// that hangs must not hold the teardown.
const closeWait = 5 * time.Second

func (w *worker) closeClients() {
	nodes := make([]string, 0, len(w.clients))
	for n := range w.clients {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	for _, n := range nodes {
		c := w.clients[n]
		delete(w.clients, n)
		closed := make(chan struct{})
		go func() {
			defer close(closed)
			_ = c.Close()
		}()
		t := time.NewTimer(closeWait)
		select {
		case <-closed:
		case <-t.C:
		}
		t.Stop()
	}
}

// ClientEndpoint names worker i in the runtime's fault layer.
func ClientEndpoint(worker int) string { return fmt.Sprintf("c%d", worker) }
