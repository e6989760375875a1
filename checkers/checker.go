// Package checkers defines how a history is judged: a Checker is a pure
// function from a history to a Result. The checkers themselves live in
// subpackages (ids, linearizable, ...). A checker that cannot decide says
// unknown, never valid, and Run turns a panic into unknown as well.
package checkers

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"sort"

	"github.com/chaostest/chaos/history"
)

// Validity is a verdict: true, false or unknown.
type Validity int

// The three verdicts. Unknown is the zero value so that a result nobody
// filled in is never mistaken for valid.
const (
	Unknown Validity = iota
	Valid
	Invalid
)

func (v Validity) String() string {
	switch v {
	case Valid:
		return "valid"
	case Invalid:
		return "invalid"
	}
	return "unknown"
}

// MarshalJSON writes true, false or "unknown", Jepsen's convention.
func (v Validity) MarshalJSON() ([]byte, error) {
	switch v {
	case Valid:
		return []byte("true"), nil
	case Invalid:
		return []byte("false"), nil
	}
	return []byte(`"unknown"`), nil
}

// UnmarshalJSON reads true, false or "unknown".
func (v *Validity) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "true":
		*v = Valid
	case "false":
		*v = Invalid
	case `"unknown"`:
		*v = Unknown
	default:
		return fmt.Errorf("validity must be true, false or \"unknown\", not %s", b)
	}
	return nil
}

// Merge combines verdicts: any invalid wins, then any unknown, else valid.
// Merging nothing is unknown: no checker ran, so nothing was shown.
func Merge(vs ...Validity) Validity {
	if len(vs) == 0 {
		return Unknown
	}
	out := Valid
	for _, v := range vs {
		switch v {
		case Invalid:
			return Invalid
		case Unknown:
			out = Unknown
		}
	}
	return out
}

// Anomaly is one thing a checker found wrong, with its witness.
type Anomaly struct {
	// Kind is a short stable name: "duplicate-id", "overlapping-holds".
	Kind string `json:"kind"`
	// Message explains the anomaly in words a user understands.
	Message string `json:"message"`
	// Ops are the witness records, completions where they exist.
	Ops []history.Op `json:"ops,omitempty"`
	// Processes and Nodes involved, for reports and filtering.
	Processes []int    `json:"processes,omitempty"`
	Nodes     []string `json:"nodes,omitempty"`
	// Fault is the last fault before the anomaly, when there was one.
	Fault *history.Op `json:"fault,omitempty"`
	// Data holds checker-specific detail (decoded IDs, hold windows...).
	Data any `json:"data,omitempty"`
}

// MaxWitnesses bounds how many anomalies a result carries in full; the count
// is always exact.
const MaxWitnesses = 200

// Result is one checker's verdict.
type Result struct {
	Valid Validity `json:"valid"`
	// Summary is one line in words: what was checked and what was found.
	Summary string `json:"summary"`
	// Counts are the checker's tallies (attempted, ok, fail, info, ...).
	Counts map[string]int64 `json:"counts,omitempty"`
	// AnomalyCounts counts anomalies by kind, including ones not listed.
	AnomalyCounts map[string]int64 `json:"anomaly_counts,omitempty"`
	Anomalies     []Anomaly        `json:"anomalies,omitempty"`
	// Details holds checker-specific figures (quantiles, per-key data).
	Details any `json:"details,omitempty"`
	// Error says why the verdict is unknown.
	Error string `json:"error,omitempty"`
}

// AddAnomaly counts a and keeps it as a witness while there is room.
func (r *Result) AddAnomaly(a Anomaly) {
	if r.AnomalyCounts == nil {
		r.AnomalyCounts = make(map[string]int64)
	}
	r.AnomalyCounts[a.Kind]++
	if len(r.Anomalies) < MaxWitnesses {
		r.Anomalies = append(r.Anomalies, a)
	}
}

// Count counts an anomaly of kind without keeping a witness; checkers call it
// instead of AddAnomaly once Full says the witness list is full, so they do
// not build witnesses nobody will see.
func (r *Result) Count(kind string) {
	if r.AnomalyCounts == nil {
		r.AnomalyCounts = make(map[string]int64)
	}
	r.AnomalyCounts[kind]++
}

// Full reports whether the result holds MaxWitnesses witnesses already.
func (r *Result) Full() bool { return len(r.Anomalies) >= MaxWitnesses }

// Checker judges a history. Implementations must be pure: they read the
// history they are given and nothing else, and honour ctx for cancellation
// (returning an Unknown result when it ends early).
type Checker interface {
	Name() string
	Check(ctx context.Context, h *history.File) Result
}

// Results is the content of results.json: the merged verdict and one entry
// per checker.
type Results struct {
	Valid    Validity          `json:"valid"`
	Checkers map[string]Result `json:"checkers"`
	Warnings []string          `json:"warnings,omitempty"`
}

// Names lists the checker names in sorted order, for stable output.
func (rs *Results) Names() []string {
	names := make([]string, 0, len(rs.Checkers))
	for n := range rs.Checkers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Run runs every checker on h and merges the verdicts. A checker that panics
// is reported as unknown with the panic and its stack, never as valid.
func Run(ctx context.Context, h *history.File, cs []Checker) Results {
	rs := Results{Checkers: make(map[string]Result, len(cs)), Warnings: h.Warnings}
	vs := make([]Validity, 0, len(cs))
	for _, c := range cs {
		r := runOne(ctx, h, c)
		rs.Checkers[c.Name()] = r
		vs = append(vs, r.Valid)
	}
	rs.Valid = Merge(vs...)
	return rs
}

func runOne(ctx context.Context, h *history.File, c Checker) (r Result) {
	defer func() {
		if p := recover(); p != nil {
			r = Result{Valid: Unknown, Summary: "checker crashed",
				Error: fmt.Sprintf("panic: %v\n%s", p, debug.Stack())}
		}
	}()
	r = c.Check(ctx, h)
	if ctx.Err() != nil && r.Valid == Valid {
		r.Valid = Unknown
		r.Error = "check interrupted: " + ctx.Err().Error()
	}
	return r
}

// DecodeResults parses a results.json body.
func DecodeResults(b []byte) (Results, error) {
	var rs Results
	err := json.Unmarshal(b, &rs)
	return rs, err
}
