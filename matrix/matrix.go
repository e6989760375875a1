// Package matrix runs a comparison matrix: every registered implementation
// of a scheme (a core.MatrixRow of "locks" or "ids") against every fault
// column (core.MatrixFaults), one short stored run per cell, and renders the
// outcome as one self-contained HTML page, a Markdown table and JSON.
//
// The matrix is a measurement, not a verdict: an invalid cell is a finding
// about that implementation under that fault. What the package promises is
// that every cell it shows as valid, invalid or unknown is the verdict of a
// stored run (with its report), that a cell whose fault the runtime cannot
// make is n/a rather than valid, and that a cell that could not run at all
// says so ("error").
package matrix

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/internal/term"
	"github.com/chaostest/chaos/reports"
)

// Verdicts a cell can show beyond a run's valid / invalid / unknown.
const (
	// NA: the cell does not apply (the row has no such fault, or the
	// runtime cannot make it).
	NA = "n/a"
	// Error: the cell's run could not be set up or was cut short; it
	// judged nothing.
	Error = "error"
)

// Options say which cells to run and how.
type Options struct {
	// Matrix is core.MatrixLocks or core.MatrixIDs.
	Matrix string
	// Rows and Faults restrict the matrix (empty: all of them); Runtimes
	// are the runtimes to run every cell on ("local", "docker").
	Rows     []string
	Faults   []string
	Runtimes []string
	// CellTime, when positive, replaces the length of every cell whose
	// faults come on the clock schedule (cells with event-triggered faults
	// keep their own: their timing is part of the plan).
	CellTime time.Duration
	// Seed, when set, replaces every cell's own seed.
	Seed *int64
	// Store keeps the cells' runs.
	Store string
	// Parallel is how many cells run at once (at least 1).
	Parallel int
	// NewRuntime makes the runtime of a name for one run.
	NewRuntime func(name string) (func() (core.Runtime, error), error)
	// Log receives one line per finished cell; nil is silent.
	Log io.Writer
	// Command is the command line, kept in the result.
	Command []string
	// CellAllowance and AbandonWait size each cell's deadline (see
	// CellDeadline) and how long an interrupted cell may take to end
	// before the matrix goes on without it; zero means 3 min and 2 min.
	CellAllowance time.Duration
	AbandonWait   time.Duration
}

// Cell is one run of the matrix.
type Cell struct {
	Row     string `json:"row"`
	Fault   string `json:"fault"`
	Runtime string `json:"runtime"`
	// Verdict is valid, invalid, unknown, n/a or error.
	Verdict string `json:"verdict"`
	// Kinds are the anomaly kinds found, sorted.
	Kinds []string `json:"kinds,omitempty"`
	// Witness is the first anomaly in one line (for unknown: why; for
	// n/a and error: why).
	Witness string `json:"witness,omitempty"`
	// OffRuntime marks an n/a cell of a row that cannot run on this
	// runtime at all (core.MatrixRow.NotOn); Witness says why.
	OffRuntime bool `json:"off_runtime,omitempty"`
	// Dir is the run's directory and Report its report page.
	Dir    string `json:"dir,omitempty"`
	Report string `json:"report,omitempty"`
	Seed   int64  `json:"seed,omitempty"`
	// ElapsedS is the cell's wall time from set-up to stored verdict.
	ElapsedS float64 `json:"elapsed_s,omitempty"`
	Ops      int64   `json:"ops,omitempty"`
	// Faults is how many faults were applied.
	Faults int64 `json:"faults,omitempty"`
}

// Row is a row as the result shows it.
type Row struct {
	Name string `json:"name"`
	Doc  string `json:"doc"`
}

// Result is a finished matrix.
type Result struct {
	Matrix   string    `json:"matrix"`
	Rows     []Row     `json:"rows"`
	Faults   []string  `json:"faults"`
	Runtimes []string  `json:"runtimes"`
	Cells    []Cell    `json:"cells"`
	Command  []string  `json:"command,omitempty"`
	Started  time.Time `json:"started"`
	ElapsedS float64   `json:"elapsed_s"`
	Parallel int       `json:"parallel"`
	// Load is the machine's load average (1, 5, 15 minutes) at the start
	// and at the end, when the system says.
	LoadStart string `json:"load_start,omitempty"`
	LoadEnd   string `json:"load_end,omitempty"`
	// Interrupted says the context ended before every cell ran; the cells
	// not run show as error.
	Interrupted bool `json:"interrupted,omitempty"`
}

// Cell finds one cell of the result.
func (r *Result) Cell(row, fault, runtime string) (Cell, bool) {
	for _, c := range r.Cells {
		if c.Row == row && c.Fault == fault && c.Runtime == runtime {
			return c, true
		}
	}
	return Cell{}, false
}

// Complete reports whether every cell was judged or is n/a: no cell
// errored and nothing was interrupted.
func (r *Result) Complete() bool {
	if r.Interrupted {
		return false
	}
	for _, c := range r.Cells {
		if c.Verdict == Error {
			return false
		}
	}
	return true
}

// Plan resolves the options against the registry: the rows, the faults and
// the runtimes, in the order the page shows them. Unknown names are errors
// that list the known ones.
func Plan(reg *core.Registry, o Options) ([]core.MatrixRow, []string, []string, error) {
	if o.Matrix != core.MatrixLocks && o.Matrix != core.MatrixIDs {
		return nil, nil, nil, fmt.Errorf("unknown matrix %q (known: %s, %s)", o.Matrix, core.MatrixLocks, core.MatrixIDs)
	}
	all := reg.MatrixRows(o.Matrix)
	if len(all) == 0 {
		return nil, nil, nil, fmt.Errorf("matrix %s has no rows in this build", o.Matrix)
	}
	rows := all
	if len(o.Rows) > 0 {
		rows = nil
		for _, name := range o.Rows {
			row, err := reg.MatrixRow(o.Matrix, name)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("--rows: %w", err)
			}
			if !slices.ContainsFunc(rows, func(x core.MatrixRow) bool { return x.Name == name }) {
				rows = append(rows, row)
			}
		}
	}
	faults := core.MatrixFaults()
	if len(o.Faults) > 0 {
		faults = nil
		for _, f := range core.MatrixFaults() {
			if slices.Contains(o.Faults, f) {
				faults = append(faults, f)
			}
		}
		for _, f := range o.Faults {
			if !slices.Contains(core.MatrixFaults(), f) {
				return nil, nil, nil, fmt.Errorf("--faults: unknown fault %q (known: %s)", f, strings.Join(core.MatrixFaults(), ", "))
			}
		}
	}
	if len(o.Runtimes) == 0 {
		return nil, nil, nil, fmt.Errorf("no runtime to run the cells on")
	}
	for _, rt := range o.Runtimes {
		if _, err := reg.Runtime(rt); err != nil {
			return nil, nil, nil, fmt.Errorf("--runtime: %w", err)
		}
	}
	// A row asked for by name that none of the runtimes can run would be a
	// matrix of n/a: refused now, saying where it runs.
	for _, row := range rows {
		if len(o.Rows) == 0 {
			break
		}
		var lacks []*core.LacksError
		for _, rt := range o.Runtimes {
			if le := runsOn(reg, rowTarget(row, rt), rt); le != nil {
				lacks = append(lacks, le)
			}
		}
		if len(lacks) == len(o.Runtimes) {
			return nil, nil, nil, fmt.Errorf("--rows %s: %w", row.Name, lacks[0])
		}
	}
	return rows, faults, o.Runtimes, nil
}

// rowTarget is the target a row's cells run on runtime, "" when no cell
// applies there.
func rowTarget(row core.MatrixRow, runtime string) string {
	for _, f := range core.MatrixFaults() {
		if cfg, ok := row.Cell(f, runtime); ok {
			return cfg.Target
		}
	}
	return ""
}

// runsOn returns what runtime lacks of what target needs, nil when it
// lacks nothing (or the registry does not know the target: Prepare says so).
func runsOn(reg *core.Registry, target, runtime string) *core.LacksError {
	ti, err := reg.Target(target)
	if err != nil {
		return nil
	}
	var le *core.LacksError
	if err := reg.CanRun(runtime, ti); errors.As(err, &le) {
		return le
	}
	return nil
}

// Run runs every cell and returns the matrix. An error means the options
// were wrong; a cell that could not run is an Error cell, not an error.
func Run(ctx context.Context, reg *core.Registry, o Options) (*Result, error) {
	rows, faults, runtimes, err := Plan(reg, o)
	if err != nil {
		return nil, err
	}
	if o.NewRuntime == nil {
		return nil, fmt.Errorf("matrix: Options.NewRuntime is nil")
	}
	par := max(o.Parallel, 1)
	res := &Result{Matrix: o.Matrix, Faults: faults, Runtimes: runtimes, Command: o.Command,
		Started: time.Now(), Parallel: par, LoadStart: loadAverage()}
	type job struct {
		row     core.MatrixRow
		fault   string
		runtime string
	}
	var jobs []job
	for _, row := range rows {
		res.Rows = append(res.Rows, Row{Name: row.Name, Doc: row.Doc})
		for _, f := range faults {
			for _, rt := range runtimes {
				jobs = append(jobs, job{row, f, rt})
				res.Cells = append(res.Cells, Cell{Row: row.Name, Fault: f, Runtime: rt})
			}
		}
	}
	var logMu sync.Mutex
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < par; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				j := jobs[i]
				c := runCell(ctx, reg, o, j.row, j.fault, j.runtime)
				res.Cells[i] = c
				if o.Log != nil {
					logMu.Lock()
					fmt.Fprintln(o.Log, logLine(o.Matrix, c))
					logMu.Unlock()
				}
			}
		}()
	}
	for i := range jobs {
		if ctx.Err() != nil {
			for k := i; k < len(jobs); k++ {
				res.Cells[k].Verdict, res.Cells[k].Witness = Error, "not run: interrupted"
			}
			res.Interrupted = true
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if ctx.Err() != nil {
		res.Interrupted = true
	}
	res.ElapsedS = time.Since(res.Started).Seconds()
	res.LoadEnd = loadAverage()
	return res, nil
}

// cellAllowance is what a cell's deadline allows beyond its phases for
// set-up (starting nodes), checking and teardown on a loaded machine.
const cellAllowance = 3 * time.Minute

// cellAbandonWait is how long a cell interrupted at its deadline may take to
// tear down before the matrix goes on without it.
const cellAbandonWait = 2 * time.Minute

// CellDeadline is how long one cell may run: its time limit, its final
// phase's timeout, an op timeout, and an allowance (Options.CellAllowance,
// cellAllowance by default). A cell past it is interrupted (its run tears
// down as on Ctrl-C) and reported as an error cell that says so; the
// matrix goes on.
func CellDeadline(cfg core.Config, allowance time.Duration) time.Duration {
	return cfg.TimeLimit + cfg.FinalTimeout + cfg.OpTimeout + cmp.Or(allowance, cellAllowance)
}

// runCell runs one cell: resolve, check the runtime offers its faults, run,
// write the report.
func runCell(ctx context.Context, reg *core.Registry, o Options, row core.MatrixRow, fault, runtime string) (c Cell) {
	c = Cell{Row: row.Name, Fault: fault, Runtime: runtime}
	if ctx.Err() != nil {
		c.Verdict, c.Witness = Error, "not run: interrupted"
		return c
	}
	if row.NotOn != nil {
		if why := row.NotOn(runtime); why != "" {
			c.Verdict, c.OffRuntime, c.Witness = NA, true, fmt.Sprintf("not on the %s runtime: %s", runtime, why)
			return c
		}
	}
	cfg, ok := row.Cell(fault, runtime)
	if !ok {
		c.Verdict, c.Witness = NA, fmt.Sprintf("%s has no %s fault", row.Name, fault)
		return c
	}
	// A target whose nodes need what the runtime does not provide
	// (core.TargetInfo.Needs) is not on this runtime, whatever the row.
	if le := runsOn(reg, cfg.Target, runtime); le != nil {
		c.Verdict, c.OffRuntime = NA, true
		c.Witness = fmt.Sprintf("not on the %s runtime: %s's nodes need %s (%s)", runtime, le.Target, le.Need.Capability, le.Need.Why)
		return c
	}
	nr, err := o.NewRuntime(runtime)
	if err != nil {
		c.Verdict, c.Witness = Error, err.Error()
		return c
	}
	cfg.Store, cfg.NewRuntime, cfg.Runtime, cfg.Progress, cfg.Scenario = o.Store, nr, runtime, nil, nil
	if o.Seed != nil {
		cfg.Seed = *o.Seed
	}
	cfg.Command = o.Command
	if len(cfg.Command) == 0 {
		cfg.Command = []string{"chaos", "matrix", o.Matrix}
	}
	c.Seed = cfg.Seed
	p, err := core.Prepare(reg, cfg)
	if err != nil {
		c.Verdict, c.Witness = Error, "prepare: "+err.Error()
		return c
	}
	if o.CellTime > 0 && !triggered(p.Nemeses) {
		cfg.TimeLimit = o.CellTime
		if p, err = core.Prepare(reg, cfg); err != nil {
			c.Verdict, c.Witness = Error, "prepare: "+err.Error()
			return c
		}
	}
	if missing := unoffered(reg, runtime, p); len(missing) > 0 {
		c.Verdict, c.Witness = NA, fmt.Sprintf("the %s runtime cannot make %s for %s", runtime, strings.Join(missing, ", "), p.TargetInfo.Name)
		return c
	}
	start := time.Now()
	allowance := cmp.Or(o.CellAllowance, cellAllowance)
	deadline := CellDeadline(p.Config, allowance)
	abandonWait := cmp.Or(o.AbandonWait, cellAbandonWait)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var out *core.Outcome
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		out, err = core.Execute(cctx, p)
	}()
	overdue := time.NewTimer(deadline)
	defer overdue.Stop()
	late := false
	select {
	case <-ran:
	case <-overdue.C:
		// Interrupt the cell: the run tears down as on Ctrl-C.
		late = true
		cancel()
		select {
		case <-ran:
		case <-time.After(abandonWait):
			c.ElapsedS = time.Since(start).Seconds()
			c.Verdict, c.Witness = Error, fmt.Sprintf("exceeded its cell deadline of %s and did not end within %s of being interrupted; abandoned", deadline, abandonWait)
			return c
		}
	}
	c.ElapsedS = time.Since(start).Seconds()
	if late && ctx.Err() == nil {
		defer func() {
			c.Verdict = Error
			c.Witness = fmt.Sprintf("exceeded its cell deadline of %s (time limit + final timeout + op timeout + %s for set-up and teardown); interrupted", deadline, allowance)
		}()
	}
	if out != nil {
		c.Dir = out.Dir
	}
	if err != nil {
		c.Verdict, c.Witness = Error, "run: "+err.Error()
		if out != nil && out.Dir != "" {
			if _, serr := os.Stat(core.HistoryPath(out.Dir)); serr == nil {
				c.Report = writeReport(reg, out.Dir)
			}
		}
		return c
	}
	c.Report = writeReport(reg, out.Dir)
	c.Ops, c.Faults = out.Stats.Invoked, out.Stats.Applied
	c.Verdict = out.Results.Valid.String()
	c.Kinds = core.AnomalyKinds(out.Results)
	c.Witness = firstWitness(out.Results)
	if out.Interrupted {
		c.Verdict, c.Witness = Error, "interrupted: "+c.Witness
	}
	return c
}

func writeReport(reg *core.Registry, dir string) string {
	p, err := reports.Write(dir, reports.WithRegistry(reg))
	if err != nil {
		return ""
	}
	return p.HTML
}

// triggered reports whether any nemesis is event-triggered.
func triggered(ns []core.Nemesis) bool {
	for _, n := range ns {
		if _, ok := n.(core.Triggered); ok {
			return true
		}
	}
	return false
}

// unoffered lists the cell's nemeses that the runtime does not offer for
// its nodes.
func unoffered(reg *core.Registry, runtime string, p *core.Prepared) []string {
	info, err := reg.Runtime(runtime)
	if err != nil || info.Nemeses == nil || len(p.Config.Nemeses) == 0 {
		return nil
	}
	specs := p.Specs
	if specs == nil {
		specs, _ = p.Target.Nodes(p.Nodes, p.Config.Params)
	}
	// A runtime may annotate what it offers ("partition(all links)").
	var offered []string
	for _, n := range info.Nemeses(p.Config.Nemeses, specs) {
		name, _, _ := strings.Cut(n, "(")
		offered = append(offered, name)
	}
	var missing []string
	for _, n := range p.Config.Nemeses {
		if !slices.Contains(offered, n) {
			missing = append(missing, n)
		}
	}
	return missing
}

// firstWitness is the first anomaly of the results in one line, or, for a
// verdict without one, the reason (unknown) or nothing (valid).
func firstWitness(rs checkers.Results) string {
	for _, n := range rs.Names() {
		r := rs.Checkers[n]
		if len(r.Anomalies) > 0 {
			a := r.Anomalies[0]
			return oneLine(a.Kind + ": " + a.Message)
		}
	}
	if rs.Valid == checkers.Unknown {
		for _, n := range rs.Names() {
			r := rs.Checkers[n]
			if r.Valid == checkers.Unknown {
				return oneLine(n + ": " + strings.TrimSpace(r.Summary+" "+r.Error))
			}
		}
	}
	return ""
}

// oneLine folds whitespace, keeps the first witnessLen bytes and makes the
// text safe for a terminal line; the run's report has the whole witness.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > witnessLen {
		s = strings.ToValidUTF8(s[:witnessLen], "") + "…"
	}
	return term.Line(s)
}

const witnessLen = 400

func logLine(matrix string, c Cell) string {
	s := fmt.Sprintf("matrix %s: %s × %s on %s: %s", matrix, c.Row, c.Fault, c.Runtime, strings.ToUpper(c.Verdict))
	if len(c.Kinds) > 0 {
		s += " (" + strings.Join(c.Kinds, ", ") + ")"
	}
	if c.ElapsedS > 0 {
		s += fmt.Sprintf(" in %.1fs", c.ElapsedS)
	}
	if c.Report != "" {
		s += " " + c.Report
	} else if c.Witness != "" && (c.Verdict == Error || c.Verdict == NA) {
		s += ": " + c.Witness
	}
	return s
}

// loadAverage reads the first three fields of /proc/loadavg ("" elsewhere).
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
