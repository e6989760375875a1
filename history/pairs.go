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

// Pairs matches every invocation with its completion, in invocation order
// (see PairIndex). It returns a *MalformedError naming the record when the
// history breaks the protocol: a process invoking while its previous
// operation is open, a completion with no open invocation, or a completion
// of another operation, key or node.
func Pairs(ops []Op) ([]Pair, error) {
	partner, err := PairIndex(ops)
	if err != nil {
		return nil, err
	}
	pairs := make([]Pair, 0, len(ops)/2+1)
	for i := range ops {
		if ops[i].Type != Invoke {
			continue
		}
		p := Pair{Invoke: ops[i]}
		if j := partner[i]; j >= 0 {
			p.Complete = ops[j]
		}
		pairs = append(pairs, p)
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
// (every one whose completion is not fail), in order. Overlapping faults are
// paired as PairIndex pairs them; a completion that pairs with nothing is
// ignored here (checkers refuse such a history before they get here). A fault counts from its
// invocation: a clock strobe or a slow kill acts before it completes.
func Faults(ops []Op) []Op {
	done := FaultCompletions(ops)
	var out []Op
	for i := range ops {
		if op := &ops[i]; op.IsNemesis() && op.Type == Invoke {
			if j, ok := done[i]; ok && ops[j].Type == Fail {
				continue // it never happened
			}
			out = append(out, *op)
		}
	}
	return out
}

// FaultCompletions maps the position of each nemesis invocation in ops to
// the position of its completion, pairing overlapping faults as PairIndex
// does; a fault that never completed is absent. A completion that pairs
// with nothing is ignored here (checkers refuse such a history first). It
// reads only nemesis records, so it costs little on a large history.
func FaultCompletions(ops []Op) map[int]int {
	done := map[int]int{}
	var nem nemesisOpen
	for i := range ops {
		op := &ops[i]
		if !op.IsNemesis() {
			continue
		}
		if op.Type == Invoke {
			nem = append(nem, i)
			continue
		}
		if j := nem.close(ops, op); j >= 0 {
			done[j] = i
		}
	}
	return done
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
