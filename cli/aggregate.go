package cli

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
)

// runResult is one finished run as the closing line counts it.
type runResult struct {
	n       int // 1-based
	seed    int64
	valid   checkers.Validity
	kinds   []string
	first   time.Duration
	hasTime bool
	matched bool
	failed  bool // the harness failed: not judged
}

// seedsFit refuses a seed range that would wrap: run i uses seed+i.
func seedsFit(seed int64, count int, flag string) error {
	if count > 1 && seed > math.MaxInt64-int64(count-1) {
		return fmt.Errorf("--seed %d with %s %d: run %d would need seed %d+%d, past the largest seed %d; give a smaller --seed or fewer runs",
			seed, flag, count, count, seed, count-1, int64(math.MaxInt64))
	}
	return nil
}

// judge summarises a finished run for its line and the closing line.
func judge(n int, seed int64, out *core.Outcome, sc *core.ScenarioRun) runResult {
	r := runResult{n: n, seed: seed, valid: out.Results.Valid, kinds: core.AnomalyKinds(out.Results)}
	if hf, err := history.ReadFile(core.HistoryPath(out.Dir)); err == nil {
		r.first, r.hasTime = core.FirstAnomaly(out.Results, hf.Ops)
	}
	if sc != nil {
		r.matched = sc.Matches(r.valid)
	}
	return r
}

// line is the one line said after each run.
func (r runResult) line(count int, sc *core.ScenarioRun) string {
	s := fmt.Sprintf("run %d/%d (seed %d): %s", r.n, count, r.seed, r.valid)
	if r.failed {
		s = fmt.Sprintf("run %d/%d (seed %d): harness failed, not judged", r.n, count, r.seed)
	}
	if len(r.kinds) > 0 {
		s += " (" + strings.Join(r.kinds, ", ") + ")"
	}
	if r.hasTime {
		s += fmt.Sprintf(", first anomaly after %.1f s", r.first.Seconds())
	}
	if sc != nil {
		if r.matched {
			s += fmt.Sprintf("; matches the scenario (expected %s)", sc.Expect)
		} else {
			s += fmt.Sprintf("; does NOT match the scenario (expected %s)", sc.Expect)
		}
	}
	return s
}

// closing is the line said after the last run: for a scenario how often
// the expectation held and which runs missed it, otherwise the verdicts and
// their seeds.
func closing(rs []runResult, sc *core.ScenarioRun) string {
	var kinds []string
	seen := map[string]bool{}
	var times []float64
	for _, r := range rs {
		for _, k := range r.kinds {
			if !seen[k] {
				seen[k] = true
				kinds = append(kinds, k)
			}
		}
		if r.hasTime && r.valid == checkers.Invalid {
			times = append(times, r.first.Seconds())
		}
	}
	sort.Strings(kinds)
	timing := ""
	if len(times) > 0 {
		sort.Float64s(times)
		timing = fmt.Sprintf(", first anomaly after %.1f-%.1f s (median %.1f s)", times[0], times[len(times)-1], median(times))
	}
	if sc != nil {
		held := 0
		var missed []string
		for _, r := range rs {
			if r.matched {
				held++
			} else {
				what := r.valid.String()
				if r.failed {
					what = "harness failed"
				}
				missed = append(missed, fmt.Sprintf("run %d (seed %d, %s)", r.n, r.seed, what))
			}
		}
		var s string
		if sc.Control {
			s = fmt.Sprintf("control held %d/%d (%s expected)", held, len(rs), sc.Expect)
			if len(kinds) > 0 {
				s += "; anomalies seen: " + strings.Join(kinds, ", ")
			}
		} else {
			s = fmt.Sprintf("reproduced %d/%d", held, len(rs))
			if len(kinds) > 0 {
				s += " (" + strings.Join(kinds, ", ") + ")"
			}
			s += timing
		}
		if len(missed) > 0 {
			s += "; missed: " + strings.Join(missed, ", ")
		}
		return s
	}
	by := map[checkers.Validity][]string{}
	for _, r := range rs {
		by[r.valid] = append(by[r.valid], fmt.Sprint(r.seed))
	}
	parts := []string{}
	for _, v := range []checkers.Validity{checkers.Valid, checkers.Invalid, checkers.Unknown} {
		if len(by[v]) > 0 {
			parts = append(parts, fmt.Sprintf("%d %s (seed %s)", len(by[v]), v, strings.Join(by[v], ", ")))
		}
	}
	s := fmt.Sprintf("%d runs: %s", len(rs), strings.Join(parts, ", "))
	if len(kinds) > 0 {
		s += "; anomalies: " + strings.Join(kinds, ", ")
	}
	return s + timing
}

func median(xs []float64) float64 {
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// scenarioCode is repro's exit code: the verdict's code when the
// expectation held in every run (1 for a reproduction, 0 for a control),
// 2 otherwise.
func scenarioCode(rs []runResult, sc *core.ScenarioRun) int {
	for _, r := range rs {
		if !r.matched {
			return exitOther
		}
	}
	if sc.Control {
		return exitValid
	}
	return exitInvalid
}

func say(w io.Writer, prefix, s string) { fmt.Fprintf(w, "%s%s\n", prefix, s) }
