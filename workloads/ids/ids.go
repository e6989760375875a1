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
	{Name: OrderParam, Type: core.TypeChoice, Choices: []string{string(idcheck.OrderNode), string(idcheck.OrderGlobal), string(idcheck.OrderNone)}, Default: string(idcheck.OrderNode),
		Usage: "the order the scheme promises: node (each node's IDs grow; order across nodes is only counted), global (every ID asked for after another was acknowledged is larger) or none (uniqueness only)"},
}

// OrderParam names the parameter that says which order the scheme
// promises. A target whose IDs are not snowflakes can set it and
// LayoutParam through core.TargetInfo.WorkloadDefaults.
const OrderParam = "ids-order"

// Workload is the ids workload.
type Workload struct{}

// Register adds the workload to r.
func Register(r *core.Registry) {
	r.AddWorkload(core.WorkloadInfo{Name: "ids", Summary: "ask for unique 64-bit IDs; check uniqueness, per-node order and timestamps",
		Params: Params, New: func(p core.Params) (core.Workload, error) {
			// The checker's parameters are checked before the run, not after.
			if _, err := checkerOptions(p); err != nil {
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
	c, err := checkerOptions(core.Params(h.Params))
	if err != nil {
		return nil, err
	}
	return []checkers.Checker{c}, nil
}

// checkerOptions builds the ids checker from the run's parameters (older
// histories have neither layout nor order: snowflake, per node).
func checkerOptions(p core.Params) (*idcheck.Checker, error) {
	epoch, tol, err := checkerParams(p)
	if err != nil {
		return nil, err
	}
	layout := idcheck.Snowflake(epoch)
	switch l := p.String(LayoutParam, "snowflake"); l {
	case "snowflake":
	case "counter":
		layout = idcheck.Counter()
	default:
		return nil, fmt.Errorf("--%s %q: want snowflake or counter", LayoutParam, l)
	}
	order, err := idcheck.ParseOrder(p.String(OrderParam, string(idcheck.OrderNode)))
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", OrderParam, err)
	}
	return idcheck.New(layout, idcheck.WithTolerance(tol), idcheck.WithOrder(order)), nil
}
