package core

import (
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"time"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/history"
)

// ScenarioRun says which named scenario a run plays and what it should show;
// it is stored in config.json under "scenario".
type ScenarioRun struct {
	Name    string `json:"name"`
	Control bool   `json:"control"`
	// Expect is "invalid" for a reproduction (the anomaly must show) and
	// "valid" for its control.
	Expect string `json:"expect"`
}

// NewScenarioRun is the record of scenario name run as the reproduction or
// as its control.
func NewScenarioRun(name string, control bool) *ScenarioRun {
	expect := checkers.Invalid
	if control {
		expect = checkers.Valid
	}
	return &ScenarioRun{Name: name, Control: control, Expect: expect.String()}
}

// Matches reports whether a verdict is what the scenario expects.
func (s *ScenarioRun) Matches(v checkers.Validity) bool { return v.String() == s.Expect }

// RecordMatch adds "matched" to a scenario run's config.json once its
// verdict is known; a run without a scenario is left alone.
func RecordMatch(dir string, s *ScenarioRun, v checkers.Validity) error {
	if s == nil {
		return nil
	}
	sc, err := ReadConfig(dir)
	if err != nil {
		return fmt.Errorf("record the scenario's match: %w", err)
	}
	matched := s.Matches(v)
	sc.Matched = &matched
	return writeJSON(filepath.Join(dir, ConfigFile), sc)
}

// FirstAnomaly is how long after the workload began (the history's first
// client invocation) the earliest anomaly of rs became evident: the latest
// record of its witness. ok is false when no anomaly has a timed witness.
func FirstAnomaly(rs checkers.Results, ops []history.Op) (d time.Duration, ok bool) {
	begin := int64(-1)
	for i := range ops {
		if !ops[i].IsNemesis() && ops[i].Type == history.Invoke {
			begin = ops[i].Time
			break
		}
	}
	first := int64(math.MaxInt64)
	for _, n := range rs.Names() {
		for _, a := range rs.Checkers[n].Anomalies {
			at := int64(-1)
			for _, op := range a.Ops {
				at = max(at, op.Time)
			}
			if at >= 0 {
				first = min(first, at)
			}
		}
	}
	if first == math.MaxInt64 {
		return 0, false
	}
	if begin < 0 || begin > first {
		begin = 0
	}
	return time.Duration(first - begin), true
}

// AnomalyKinds lists the kinds of anomaly rs found, sorted.
func AnomalyKinds(rs checkers.Results) []string {
	seen := map[string]bool{}
	for _, n := range rs.Names() {
		for k, c := range rs.Checkers[n].AnomalyCounts {
			if c > 0 {
				seen[k] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
