package history

import (
	"fmt"
	"sort"
)

// Pair is an operation's invocation with its completion. Complete.Type is
// empty when the history ended before the operation completed (the harness
// died): such an operation is indeterminate, exactly like info.
type Pair struct {
	Invoke   Op
	Complete Op
}

// Outcome is the completion type, Info for an operation that never completed.
func (p *Pair) Outcome() Type {
	if p.Complete.Type == "" {
		return Info
	}
	return p.Complete.Type
}

// Completed reports whether a completion record exists.
func (p *Pair) Completed() bool { return p.Complete.Type != "" }

// End is the completion time, or end when the operation never completed.
func (p *Pair) End(end int64) int64 {
	if p.Complete.Type == "" {
		return end
	}
	return p.Complete.Time
}

// Pairs matches every invocation with its completion, in invocation order. It
// returns an error naming the record when the history breaks the protocol: a
// process invoking while its previous operation is open, a completion with no
// open invocation, or a completion of another operation.
func Pairs(ops []Op) ([]Pair, error) {
	pairs := make([]Pair, 0, len(ops)/2+1)
	open := make(map[int]int) // process -> index in pairs
	for i := range ops {
		op := &ops[i]
		if op.Type == Invoke {
			if j, busy := open[op.Process]; busy {
				return nil, fmt.Errorf("record %d: process %s invokes %q while its %q (record %d) is still open",
					op.Index, processName(op.Process), op.F, pairs[j].Invoke.F, pairs[j].Invoke.Index)
			}
			open[op.Process] = len(pairs)
			pairs = append(pairs, Pair{Invoke: *op})
			continue
		}
		j, ok := open[op.Process]
		if !ok {
			return nil, fmt.Errorf("record %d: process %s completes %q (%s) with no open invocation",
				op.Index, processName(op.Process), op.F, op.Type)
		}
		if pairs[j].Invoke.F != op.F {
			return nil, fmt.Errorf("record %d: process %s completes %q but invoked %q (record %d)",
				op.Index, processName(op.Process), op.F, pairs[j].Invoke.F, pairs[j].Invoke.Index)
		}
		pairs[j].Complete = *op
		delete(open, op.Process)
	}
	return pairs, nil
}

// ClientPairs is Pairs without the nemesis.
func ClientPairs(ops []Op) ([]Pair, error) {
	all, err := Pairs(ops)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, p := range all {
		if !p.Invoke.IsNemesis() {
			out = append(out, p)
		}
	}
	return out, nil
}

// EndTime is the time of the last record, 0 for an empty history.
func EndTime(ops []Op) int64 {
	if len(ops) == 0 {
		return 0
	}
	return ops[len(ops)-1].Time
}

// Faults returns the invocations of the faults that took effect or may have
// (every one whose completion is not fail), in order. A fault counts from its
// invocation: a clock strobe or a slow kill acts before it completes.
func Faults(ops []Op) []Op {
	var out []Op
	open := -1 // position in out of the fault awaiting its completion
	for _, op := range ops {
		if !op.IsNemesis() {
			continue
		}
		if op.Type == Invoke {
			out = append(out, op)
			open = len(out) - 1
			continue
		}
		if op.Type == Fail && open >= 0 && out[open].F == op.F && out[open].Node == op.Node {
			out = append(out[:open], out[open+1:]...)
		}
		open = -1
	}
	return out
}

// FaultIndex answers "which fault came just before time t" in O(log n).
type FaultIndex struct{ faults []Op }

// NewFaultIndex indexes the faults of ops (see Faults).
func NewFaultIndex(ops []Op) *FaultIndex { return &FaultIndex{faults: Faults(ops)} }

// Before returns the last fault that began at or before t, preferring one
// that acted on node when node is not empty and such a fault exists.
func (fi *FaultIndex) Before(t int64, node string) *Op {
	i := sort.Search(len(fi.faults), func(i int) bool { return fi.faults[i].Time > t })
	var any *Op
	for j := i - 1; j >= 0; j-- {
		f := &fi.faults[j]
		if any == nil {
			any = f
			if node == "" {
				return f
			}
		}
		if f.Node == node {
			return f
		}
	}
	return any
}

func processName(p int) string {
	if p == NemesisProcess {
		return "nemesis"
	}
	return fmt.Sprint(p)
}
