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
}

type statsJSON struct {
	Invoked int64 `json:"invoked"`
	OK      int64 `json:"ok"`
	Fail    int64 `json:"fail"`
	Info    int64 `json:"info"`
	Faults  int64 `json:"faults"`
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
			Stats:    statsJSON{out.Stats.Invoked, out.Stats.OK, out.Stats.Fail, out.Stats.Info, out.Stats.Faults},
			Checkers: map[string]checkerJSON{}}
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
