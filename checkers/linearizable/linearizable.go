// Package linearizable judges whether a history is linearizable, using
// porcupine (github.com/anishathalye/porcupine) as the search engine.
//
// Indeterminate operations are handled the way Jepsen's Knossos handles
// them: a fail operation did not happen and is dropped; an info operation (or
// one that never completed) may have happened at any moment after its
// invocation, so it is given a return at the very end of the history and an
// output every state accepts. It is never counted as failed, never dropped.
//
// Histories are split into independent partitions (per key for the kv model)
// that are checked in parallel on a bounded pool of workers. The search is
// bounded in time: when the deadline passes before porcupine decides, the
// verdict is unknown, never valid. For a partition that is not linearizable
// the result names the key, the operations porcupine could not fit into any
// order, and writes porcupine's visualization of that partition (size-capped)
// next to the history.
package linearizable

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/history"
)

// DefaultMaxVisualizationBytes caps one visualization file.
const DefaultMaxVisualizationBytes = 8 << 20

// Checker judges linearizability against one model.
type Checker struct {
	model    Model
	name     string
	workers  int
	timeout  time.Duration
	vizDir   string
	vizBytes int64
	witness  bool
	readMap  bool
	memory   int64
}

var _ checkers.Checker = (*Checker)(nil)

// Option configures a Checker.
type Option func(*Checker)

// WithName names the checker in results (default "linearizable").
func WithName(name string) Option { return func(c *Checker) { c.name = name } }

// WithWorkers bounds how many partitions are checked at once (default
// GOMAXPROCS).
func WithWorkers(n int) Option {
	return func(c *Checker) {
		if n > 0 {
			c.workers = n
		}
	}
}

// WithTimeout bounds the search; past it the verdict is unknown. The
// context's deadline bounds it as well. Zero means only the context.
func WithTimeout(d time.Duration) Option { return func(c *Checker) { c.timeout = d } }

// WithVisualizationDir sets where visualizations of failing partitions go.
// By default they go to the history's ArtifactDir (the run directory when
// the runner checks a run), and nowhere when that is empty.
func WithVisualizationDir(dir string) Option { return func(c *Checker) { c.vizDir = dir } }

// WithMaxVisualizationBytes caps each visualization file; a larger one is
// replaced by a window around the failure. Zero or less disables
// visualizations.
func WithMaxVisualizationBytes(n int64) Option { return func(c *Checker) { c.vizBytes = n } }

// WithWitness turns the witness search (a second, verbose porcupine pass over
// failing partitions, and the visualization) on or off; it is on by default.
func WithWitness(on bool) Option { return func(c *Checker) { c.witness = on } }

// WithReadMapping turns the read-mapping check (exact and O(n log n) for
// registers whose written values are unique) on or off; it is on by default,
// and porcupine decides whatever it leaves undecided.
func WithReadMapping(on bool) Option { return func(c *Checker) { c.readMap = on } }

// WithMemoryBudget bounds, in bytes, the heap the check may grow to; past it
// the search stops and the undecided partitions make the verdict unknown.
// Zero (the default) takes the context's budget (checkers.WithMemoryBudget),
// or checkers.DefaultMemoryBudget.
func WithMemoryBudget(n int64) Option { return func(c *Checker) { c.memory = n } }

// New returns a linearizability checker for model.
func New(model Model, opts ...Option) *Checker {
	c := &Checker{model: model, name: "linearizable", workers: runtime.GOMAXPROCS(0),
		vizBytes: DefaultMaxVisualizationBytes, witness: true, readMap: true}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Name is the checker's name in results.
func (c *Checker) Name() string { return c.name }

// partition is one independent sub-history.
type partition struct {
	key   string
	ops   []porcupine.Operation
	pairs []*history.Pair // pairs[i] produced ops[i]

	result porcupine.CheckResult
	abort  bool // the search was cut short by the deadline
	// info holds porcupine's partial linearizations when the witness is
	// wanted: one verbose pass costs less than a quick pass followed by a
	// verbose one over each failing partition.
	info *porcupine.LinearizationInfo
	// rm is the read-mapping check's witness when it decided Illegal;
	// byReadMap says that check decided the partition.
	rm        *rmWitness
	byReadMap bool
}

// Stats are the checker's tallies, in Result.Counts.
type Stats struct {
	Ops, OK, Info, Fail, Partitions, Illegal, Undecided int64
	// ReadMapped counts the partitions the read-mapping check decided.
	ReadMapped int64
}

// Check judges h. It reads nothing but h, and writes only visualizations.
func (c *Checker) Check(ctx context.Context, h *history.File) checkers.Result {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	parts, st, err := c.build(h)
	if err != nil {
		return checkers.Result{Valid: checkers.Unknown, Summary: "history cannot be judged for linearizability",
			Error: err.Error(), Counts: st.counts()}
	}
	if st.OK == 0 {
		// Nothing completed: a valid verdict would say nothing about the
		// system, so it is not given.
		return checkers.Result{Valid: checkers.Unknown, Counts: st.counts(),
			Summary: fmt.Sprintf("nothing to judge: no client operation completed ok (%d operations: %d info, %d fail)", st.Ops, st.Info, st.Fail),
			Error:   "the history has no completed client operation to judge for linearizability"}
	}
	// The search ends a little before the check's deadline, so the witness,
	// the visualization and the result fit inside it too.
	sctx := ctx
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		sctx, cancel = context.WithDeadline(ctx, dl.Add(-min(time.Until(dl)/20, 500*time.Millisecond)))
		defer cancel()
	}
	memHit := c.search(sctx, parts)

	res := checkers.Result{Valid: checkers.Valid}
	var illegal, undecided []*partition
	for _, p := range parts {
		if p.byReadMap {
			st.ReadMapped++
		}
		switch {
		case p.result == porcupine.Illegal && !p.abort:
			illegal = append(illegal, p)
		case p.result != porcupine.Ok || p.abort:
			undecided = append(undecided, p)
		}
	}
	st.Illegal, st.Undecided = int64(len(illegal)), int64(len(undecided))
	res.Counts = st.counts()
	what := fmt.Sprintf("%d operations (%d ok, %d info, %d fail dropped) in %d %s against the %s model",
		st.Ops, st.OK, st.Info, st.Fail, st.Partitions, plural(st.Partitions, "partition"), c.model.Name)
	switch {
	case len(illegal) > 0:
		res.Valid = checkers.Invalid
		verb := "have"
		if len(illegal) == 1 {
			verb = "has"
		}
		res.Summary = fmt.Sprintf("not linearizable: %d of %d %s %s no valid order; %s", len(illegal), st.Partitions,
			plural(st.Partitions, "partition"), verb, what)
		faults := history.NewFaultIndex(h.Ops)
		var vizFiles []string
		for _, p := range illegal {
			a, viz := c.explain(ctx, h, p, faults)
			res.AddAnomaly(a)
			if viz != "" {
				vizFiles = append(vizFiles, viz)
			}
		}
		if len(vizFiles) > 0 {
			res.Details = map[string]any{"visualizations": vizFiles}
		}
		if len(undecided) > 0 {
			res.Summary += fmt.Sprintf(" (%d more undecided: %s)", len(undecided), undecidedReason(ctx, memHit, c.memBudget(ctx)))
		}
	case len(undecided) > 0:
		res.Valid = checkers.Unknown
		res.Summary = fmt.Sprintf("undecided: %d of %d %s not decided; %s", len(undecided), st.Partitions,
			plural(st.Partitions, "partition"), what)
		res.Error = undecidedReason(ctx, memHit, c.memBudget(ctx))
		if c.model.Key != nil {
			res.Error += "; undecided keys: " + keyList(undecided, 10)
		}
	default:
		res.Summary = "linearizable: " + what
	}
	return res
}

// undecidedReason says why partitions are undecided. Porcupine answers
// Unknown only when its timer fires, which may be a moment before ctx notices
// its own deadline.
func undecidedReason(ctx context.Context, memHit, budget int64) string {
	if memHit > 0 {
		return fmt.Sprintf("the search reached the memory budget (heap %d MiB over the budget of %d MiB; raise --check-memory)", memHit>>20, budget>>20)
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return "the check was interrupted"
	}
	if _, ok := ctx.Deadline(); ok {
		return "the check timed out before porcupine decided (raise --check-timeout)"
	}
	return "porcupine gave up"
}

func keyList(ps []*partition, max int) string {
	s := ""
	for i, p := range ps {
		if i == max {
			return s + fmt.Sprintf(", ... (%d more)", len(ps)-max)
		}
		if i > 0 {
			s += ", "
		}
		s += strconv.Quote(p.key)
	}
	return s
}

func plural(n int64, s string) string {
	if n == 1 {
		return s
	}
	return s + "s"
}

func (st Stats) counts() map[string]int64 {
	return map[string]int64{"ops": st.Ops, "ok": st.OK, "info": st.Info, "fail": st.Fail,
		"partitions": st.Partitions, "illegal_partitions": st.Illegal, "undecided_partitions": st.Undecided,
		"read_mapped_partitions": st.ReadMapped}
}

// build pairs the client operations, drops fails, gives indeterminate ones a
// return at the end of the history, and splits them into partitions sorted
// by key, so results never depend on map order.
func (c *Checker) build(h *history.File) ([]*partition, Stats, error) {
	var st Stats
	if err := history.WellFormed(h.Ops); err != nil {
		return nil, st, err
	}
	// Only client operations are paired: a fault record never enters the
	// model, and an imported history may lack a fault's invocation.
	client := h.Ops
	for i := range h.Ops {
		if h.Ops[i].IsNemesis() {
			client = make([]history.Op, 0, len(h.Ops))
			for _, op := range h.Ops {
				if !op.IsNemesis() {
					client = append(client, op)
				}
			}
			break
		}
	}
	pairs, err := history.Pairs(client)
	if err != nil {
		return nil, st, err
	}
	// Real-time order is record order: a record is written after what it
	// reports happened (a completion after the response, an invocation
	// before the request), so "completion record before invocation record"
	// is a precedence that did happen, whatever the clock says. Two records
	// with the same time are ordered as recorded, and a history whose times
	// go backwards is never judged by them. Indeterminate operations return
	// after everything else.
	var end int64
	for i := range h.Ops {
		end = max(end, h.Ops[i].Index)
	}
	end++
	clients := map[int]int{}
	for _, p := range pairs {
		clients[p.Invoke.Process] = 0
	}
	procs := make([]int, 0, len(clients))
	for p := range clients {
		procs = append(procs, p)
	}
	sort.Ints(procs)
	for i, p := range procs {
		clients[p] = i
	}

	byKey := map[string]*partition{}
	var keys []string
	for i := range pairs {
		p := &pairs[i]
		st.Ops++
		var done *history.Op
		ret := end
		switch p.Outcome() {
		case history.Fail:
			st.Fail++
			// A failed operation never enters the model, but one the
			// model does not define is still refused.
			if _, _, err := c.model.Op(&p.Invoke, nil); err != nil {
				return nil, st, fmt.Errorf("record %d (%s): %w", p.Invoke.Index, p.Invoke.String(), err)
			}
			continue
		case history.OK:
			st.OK++
			done = &p.Complete
			ret = p.Complete.Index
		default:
			st.Info++
		}
		in, out, err := c.model.Op(&p.Invoke, done)
		if err != nil {
			return nil, st, fmt.Errorf("record %d (%s): %w", p.Invoke.Index, p.Invoke.String(), err)
		}
		key := ""
		if c.model.Key != nil {
			key = c.model.Key(&p.Invoke)
		}
		part := byKey[key]
		if part == nil {
			part = &partition{key: key}
			if c.model.Key == nil {
				part.ops = make([]porcupine.Operation, 0, len(pairs))
				part.pairs = make([]*history.Pair, 0, len(pairs))
			}
			byKey[key] = part
			keys = append(keys, key)
		}
		part.ops = append(part.ops, porcupine.Operation{ClientId: clients[p.Invoke.Process], Input: in,
			Call: p.Invoke.Index, Output: out, Return: ret, Metadata: p.Invoke.Index})
		part.pairs = append(part.pairs, p)
	}
	sort.Strings(keys)
	parts := make([]*partition, len(keys))
	for i, k := range keys {
		parts[i] = byKey[k]
	}
	st.Partitions = int64(len(parts))
	return parts, st, nil
}

// memoryPoll is how often the search's heap is sampled against the budget.
const memoryPoll = 10 * time.Millisecond

// search decides every partition on a bounded pool of workers, under a
// watchdog that stops the search when the heap passes the memory budget
// (porcupine's search cannot be bounded in memory from outside, only
// stopped). It returns the heap seen when the budget stopped it, 0 if it
// did not.
func (c *Checker) search(ctx context.Context, parts []*partition) int64 {
	budget := c.memory
	if budget <= 0 {
		budget = checkers.MemoryBudget(ctx)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var over atomic.Int64
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		t := time.NewTicker(memoryPoll)
		defer t.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-t.C:
			}
			if h := checkers.HeapBytes(); h > budget {
				over.Store(h)
				cancel()
				return
			}
		}
	}()

	var total, done, doneOps atomic.Int64
	for _, p := range parts {
		total.Add(int64(len(p.ops)))
	}
	workers := min(c.workers, len(parts))
	jobs := make(chan *partition)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range jobs {
				c.decide(sctx, p)
				checkers.ReportProgress(ctx, checkers.Progress{Checker: c.name, Done: done.Add(1), Total: int64(len(parts)),
					Ops: doneOps.Add(int64(len(p.ops))), TotalOps: total.Load()})
			}
		}()
	}
	for _, p := range parts {
		jobs <- p
	}
	close(jobs)
	wg.Wait()
	cancel()
	<-watchDone
	return over.Load()
}

// decide runs porcupine on one partition under ctx. p.abort reports that
// ctx ended during the search, whatever porcupine answered: a search cut
// short proves nothing.
//
// Under a deadline, porcupine's own timer ends the search and the model's
// step stays unwrapped (the wrapper costs a few percent on every step); an
// earlier cancellation abandons the search, which then ends by the same
// timer. Without a deadline, a cancellable ctx stops the search through the
// step.
func (c *Checker) decide(ctx context.Context, p *partition) {
	if ctx.Err() != nil {
		p.result, p.abort = porcupine.Unknown, true
		return
	}
	if c.readMap {
		switch v, w := readMapping(p.ops); v {
		case rmOk:
			p.result, p.byReadMap = porcupine.Ok, true
			return
		case rmIllegal:
			p.result, p.byReadMap, p.rm = porcupine.Illegal, true, w
			return
		}
	}
	if _, ok := ctx.Deadline(); !ok && ctx.Done() == nil {
		p.result, p.info = c.porcupine(c.model.Porcupine, p.ops, 0)
		return
	}
	type answer struct {
		res     porcupine.CheckResult
		info    *porcupine.LinearizationInfo
		aborted bool
	}
	done := make(chan answer, 1)
	timeout := remaining(ctx)
	// The step gives up once ctx ends (deadline, interruption, memory
	// budget), so an abandoned search unwinds at once and frees what it
	// held instead of running on beside the rest of the check.
	m, stop := c.boundedModel(ctx, c.model.Porcupine)
	go func() {
		res, info := c.porcupine(m, p.ops, timeout)
		aborted := stop()
		done <- answer{res, info, aborted}
	}()
	select {
	case a := <-done:
		p.result, p.info = a.res, a.info
		p.abort = a.aborted || a.res == porcupine.Unknown && ctx.Err() != nil
	case <-ctx.Done():
		p.result, p.abort = porcupine.Unknown, true
	}
}

// porcupine runs one search, verbose when the witness is wanted; info is
// kept only for an illegal partition.
func (c *Checker) porcupine(m porcupine.Model, ops []porcupine.Operation, timeout time.Duration) (porcupine.CheckResult, *porcupine.LinearizationInfo) {
	if !c.witness {
		return porcupine.CheckOperationsTimeout(m, ops, timeout), nil
	}
	res, info := porcupine.CheckOperationsVerbose(m, ops, timeout)
	if res != porcupine.Illegal {
		return res, nil
	}
	return res, &info
}

// boundedModel returns m with a step that gives up once ctx ends, so a
// cancelled check (Ctrl-C, or a deadline porcupine's own timer has not seen
// yet) stops promptly. stop reports whether ctx ended while the model was in
// use.
func (c *Checker) boundedModel(ctx context.Context, m porcupine.Model) (porcupine.Model, func() bool) {
	if ctx.Done() == nil {
		return m, func() bool { return false }
	}
	var aborted atomic.Bool
	release := context.AfterFunc(ctx, func() { aborted.Store(true) })
	step := m.Step
	m.Step = nil
	m.StepContext = func(pctx context.Context, s, in, out any) (bool, any) {
		if aborted.Load() {
			return false, nil
		}
		return step(s, in, out)
	}
	return m, func() bool {
		release()
		return aborted.Load() || ctx.Err() != nil
	}
}

// remaining is porcupine's timeout: the time left before ctx's deadline, 0
// (none) without one.
func remaining(ctx context.Context) time.Duration {
	dl, ok := ctx.Deadline()
	if !ok {
		return 0
	}
	return max(time.Until(dl), time.Nanosecond)
}

func (c *Checker) memBudget(ctx context.Context) int64 {
	if c.memory > 0 {
		return c.memory
	}
	return checkers.MemoryBudget(ctx)
}

// vizPath picks where the visualization of a partition goes, "" for nowhere.
func (c *Checker) vizPath(h *history.File, key string) string {
	if c.vizBytes <= 0 {
		return ""
	}
	dir := c.vizDir
	if dir == "" {
		if h.ArtifactDir == "" {
			return ""
		}
		dir = h.ArtifactDir
	}
	name := "linearizable"
	if key != "" {
		name += "-" + safeName(key)
	}
	return filepath.Join(dir, name+".html")
}

// safeName keeps a key usable as part of a file name.
func safeName(key string) string {
	b := []byte(key)
	for i, ch := range b {
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_' || ch == '.') {
			b[i] = '_'
		}
	}
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}

// writeFileAtomic writes through a temporary file so a reader never sees a
// half-written visualization.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
