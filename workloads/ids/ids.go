// Package ids is the ID-generation workload: every worker asks its node for
// new IDs as fast as the rate allows, and the ids checker judges uniqueness,
// per-node order and timestamps.
package ids

import (
	"fmt"
	"time"

	"github.com/chaostest/chaos/checkers"
	idcheck "github.com/chaostest/chaos/checkers/ids"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/workloads/gen"
)

// EpochParam names the parameter that holds the IDs' custom epoch (RFC 3339);
// targets that issue snowflake IDs read it.
const EpochParam = "ids-epoch"

// LayoutParam names the parameter that says what an ID is: a snowflake
// (timestamp, machine, sequence) or a plain counter value.
const LayoutParam = "ids-layout"

// Params are the workload's flags.
var Params = []core.Param{
	{Name: LayoutParam, Type: core.TypeChoice, Choices: []string{"snowflake", "counter"}, Default: "snowflake",
		Usage: "what an ID is: snowflake (timestamp, machine, sequence: its timestamp is checked against the request's time) or counter (a plain number from a counter: INCR, a sequence; uniqueness and per-node order only)"},
	{Name: EpochParam, Default: idcheck.DefaultEpoch.Format(time.RFC3339), Usage: "custom epoch of the IDs' timestamps (RFC 3339)", Aliases: []string{"epoch"}},
	{Name: "ids-time-tolerance", Type: core.TypeDuration, Default: "500ms", Aliases: []string{"id-time-tolerance"},
		Usage: "how far an ID's timestamp may lie outside its request's time window beyond the node's known clock offset"},
}

// Workload is the ids workload.
type Workload struct{}

// Register adds the workload to r.
func Register(r *core.Registry) {
	r.AddWorkload(core.WorkloadInfo{Name: "ids", Summary: "ask for unique 64-bit IDs; check uniqueness, per-node order and timestamps",
		Params: Params, New: func(p core.Params) (core.Workload, error) {
			// The checker's parameters are checked before the run, not after.
			if _, _, err := checkerParams(p); err != nil {
				return nil, err
			}
			return Workload{}, nil
		}})
}

// checkerParams reads the epoch and the tolerance of the ids checker.
func checkerParams(p core.Params) (time.Time, time.Duration, error) {
	epoch := idcheck.DefaultEpoch
	// "epoch" and "id-time-tolerance" are the names of older histories.
	if s := p.String(EpochParam, p.String("epoch", "")); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return time.Time{}, 0, fmt.Errorf("--%s %q: want an RFC 3339 time such as 2020-01-01T00:00:00Z", EpochParam, s)
		}
		epoch = t
	}
	tolName := "ids-time-tolerance"
	if _, ok := p[tolName]; !ok {
		tolName = "id-time-tolerance"
	}
	tol, err := p.Duration(tolName, 500*time.Millisecond)
	if err != nil {
		return time.Time{}, 0, err
	}
	if tol < 0 {
		// A negative tolerance narrows every request's window below what
		// was measured, and blames correct IDs.
		return time.Time{}, 0, fmt.Errorf("--%s %s: must be zero or positive (leave it out for 500ms)", tolName, tol)
	}
	return epoch, tol, nil
}

// Generator asks for IDs forever; the runner's rate and time limit bound it.
func (Workload) Generator(int) gen.Generator { return gen.Repeat(history.Op{F: idcheck.Generate}) }

// Final is empty: IDs have no state to read back.
func (Workload) Final([]string) []history.Op { return nil }

// Checkers rebuilds the ids checker from the history's parameters.
func (Workload) Checkers(h *history.Header) ([]checkers.Checker, error) {
	epoch, tol, err := checkerParams(core.Params(h.Params))
	if err != nil {
		return nil, err
	}
	layout := idcheck.Snowflake(epoch)
	if core.Params(h.Params).String(LayoutParam, "snowflake") == "counter" {
		layout = idcheck.Counter()
	}
	return []checkers.Checker{idcheck.New(layout, idcheck.WithTolerance(tol))}, nil
}
