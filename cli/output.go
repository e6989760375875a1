package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/internal/term"
	"github.com/chaostest/chaos/reports"
)

// outputOptions choose how run and repro talk to the terminal: text (a
// progress line every second on stderr, a summary table on stdout), quiet
// (one line per run: verdict and report path), or json (one JSON object per
// run on stdout, for scripts).
type outputOptions struct {
	quiet  bool
	format string
}

func addOutputFlags(fs *pflag.FlagSet, o *outputOptions) {
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "no progress and no table: one line per run with the verdict and the report's path")
	fs.StringVarP(&o.format, "output", "o", "text", "summary format: text or json (one JSON object per run on stdout)")
}

func (o outputOptions) validate() error {
	switch o.format {
	case "text", "json":
		return nil
	}
	return fmt.Errorf("--output %q: must be text or json", o.format)
}

// progress is where the runner's progress lines go: nowhere when quiet or
// when stdout carries JSON (stderr stays free for errors).
func (o outputOptions) progress(stderr io.Writer) io.Writer {
	if o.quiet || o.format == "json" {
		return nil
	}
	return stderr
}

// runJSON is the --output json form of one run.
type runJSON struct {
	Dir         string                 `json:"run_dir"`
	Report      string                 `json:"report,omitempty"`
	JUnit       string                 `json:"junit,omitempty"`
	Target      string                 `json:"target"`
	Workload    string                 `json:"workload"`
	Seed        int64                  `json:"seed"`
	ElapsedS    float64                `json:"elapsed_s"`
	Interrupted bool                   `json:"interrupted,omitempty"`
	Stats       statsJSON              `json:"ops"`
	Valid       checkers.Validity      `json:"valid"`
	Checkers    map[string]checkerJSON `json:"checkers"`
	// Faults are planned, applied and failed per fault kind.
	Faults   []core.FaultTally `json:"faults,omitempty"`
	Warnings []string          `json:"warnings,omitempty"`
}

type statsJSON struct {
	Invoked int64 `json:"invoked"`
	OK      int64 `json:"ok"`
	Fail    int64 `json:"fail"`
	Info    int64 `json:"info"`
	// Faults counts the faults invoked (heals apart), Applied those that
	// took effect.
	Faults  int64 `json:"faults"`
	Applied int64 `json:"faults_applied"`
}

type checkerJSON struct {
	Valid     checkers.Validity `json:"valid"`
	Summary   string            `json:"summary"`
	Anomalies map[string]int64  `json:"anomalies,omitempty"`
	Error     string            `json:"error,omitempty"`
}

// report writes the run's report and JUnit file. A report that cannot be
// written does not change the verdict; it is said on stderr.
func writeReport(env *cliEnv, dir string) reports.Paths {
	p, err := reports.Write(dir, reports.WithRegistry(env.reg))
	if err != nil {
		fmt.Fprintf(env.stderr, "chaos: report: %s\n", term.Text(err.Error()))
	}
	return p
}

// printOutcome prints one finished run in the chosen mode.
func printOutcome(env *cliEnv, p *core.Prepared, out *core.Outcome, seed int64, rp reports.Paths) {
	switch {
	case env.out.format == "json":
		j := runJSON{Dir: out.Dir, Report: rp.HTML, JUnit: rp.JUnit, Target: p.TargetInfo.Name, Workload: p.Config.Workload,
			Seed: seed, ElapsedS: out.Elapsed.Seconds(), Interrupted: out.Interrupted, Valid: out.Results.Valid,
			Stats:    statsJSON{out.Stats.Invoked, out.Stats.OK, out.Stats.Fail, out.Stats.Info, out.Stats.Faults, out.Stats.Applied},
			Checkers: map[string]checkerJSON{}, Faults: out.Faults, Warnings: out.Results.Warnings}
		for name, r := range out.Results.Checkers {
			j.Checkers[name] = checkerJSON{Valid: r.Valid, Summary: r.Summary, Anomalies: r.AnomalyCounts, Error: r.Error}
		}
		b, err := json.Marshal(j)
		if err != nil {
			fmt.Fprintf(env.stderr, "chaos: encode summary: %v\n", err)
			return
		}
		fmt.Fprintf(env.stdout, "%s\n", term.JSON(b))
	case env.out.quiet:
		where := rp.HTML
		if where == "" {
			where = out.Dir
		}
		fmt.Fprintf(env.stdout, "%s %s\n", strings.ToUpper(out.Results.Valid.String()), term.Line(where))
	default:
		printSummary(env, out, seed)
		if rp.HTML != "" {
			fmt.Fprintf(env.stdout, "report   %s\n", rp.HTML)
		}
	}
}

// checkJSON is the --output json form of `chaos check`.
type checkJSON struct {
	History  string                 `json:"history"`
	Records  int                    `json:"records"`
	Target   string                 `json:"target,omitempty"`
	Workload string                 `json:"workload,omitempty"`
	Seed     int64                  `json:"seed"`
	Valid    checkers.Validity      `json:"valid"`
	Checkers map[string]checkerJSON `json:"checkers"`
	Faults   []core.FaultTally      `json:"faults,omitempty"`
	Warnings []string               `json:"warnings,omitempty"`
}

// printCheck prints a verdict of `chaos check` in the chosen mode: the
// table, one line (-q), or one JSON object (-o json). intro is the table's
// first line.
func printCheck(env *cliEnv, j checkJSON, rs checkers.Results, intro string) {
	j.Valid, j.Warnings, j.Checkers = rs.Valid, rs.Warnings, map[string]checkerJSON{}
	for name, r := range rs.Checkers {
		j.Checkers[name] = checkerJSON{Valid: r.Valid, Summary: r.Summary, Anomalies: r.AnomalyCounts, Error: r.Error}
	}
	switch {
	case env.out.format == "json":
		b, err := json.Marshal(j)
		if err != nil {
			fmt.Fprintf(env.stderr, "chaos: encode verdict: %v\n", err)
			return
		}
		fmt.Fprintf(env.stdout, "%s\n", b)
	case env.out.quiet:
		fmt.Fprintf(env.stdout, "%s %s\n", strings.ToUpper(rs.Valid.String()), j.History)
	default:
		fmt.Fprintln(env.stdout, intro)
		for _, ft := range j.Faults {
			fmt.Fprintf(env.stdout, "faults   %s\n", ft)
		}
		printResults(env, rs)
	}
}
