package history

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// MalformedError says a history breaks the record protocol, so no verdict
// drawn from it can be trusted. Record is the index of the first record at
// fault.
type MalformedError struct {
	Record int64
	Reason string
}

func (e *MalformedError) Error() string {
	return fmt.Sprintf("malformed history: record %d: %s", e.Record, e.Reason)
}

func malformed(op *Op, format string, args ...any) error {
	return &MalformedError{Record: op.Index, Reason: fmt.Sprintf(format, args...)}
}

// WellFormed checks what every checker relies on before it judges ops, and
// returns a *MalformedError naming the first record that breaks it:
//
//   - record indexes strictly increase (no duplicates, none negative; a
//     sub-history keeps its gaps);
//   - times are not negative, and no completion is earlier than its
//     invocation (record order, not time, is real-time order: checkers
//     that read times read them per operation);
//   - every record has a known type, an operation name, a process that is a
//     number or the nemesis, names (f, key, node) in UTF-8 and a value that
//     is JSON in UTF-8 with no lone surrogates (decoders fold such bytes to
//     U+FFFD, so two distinct values would compare equal);
//   - the records pair up (see PairIndex): no completion without an open
//     invocation, no second invocation by a process whose operation is open,
//     no completion that names another operation, key or node than its
//     invocation;
//   - when fs is not empty, every client operation is one of fs: an
//     operation a checker's contract does not define cannot be judged by it.
func WellFormed(ops []Op, fs ...string) error {
	for i := range ops {
		op := &ops[i]
		if op.Index < 0 {
			return malformed(op, "negative record index")
		}
		if i > 0 {
			prev := &ops[i-1]
			if op.Index == prev.Index {
				return malformed(op, "the index is used by two records (positions %d and %d)", i-1, i)
			}
			if op.Index < prev.Index {
				return malformed(op, "records out of order: it follows record %d", prev.Index)
			}
		}
		if op.Time < 0 {
			return malformed(op, "negative time %d ns (times count from the run's start)", op.Time)
		}
		if !op.Type.Valid() {
			return malformed(op, "type %q is not one of invoke, ok, fail, info", op.Type)
		}
		if op.F == "" {
			return malformed(op, "no operation name (f)")
		}
		if op.Process < 0 && op.Process != NemesisProcess {
			return malformed(op, "process %d is neither a non-negative number nor the nemesis", op.Process)
		}
		for _, n := range [...]struct{ name, v string }{{"f", op.F}, {"key", op.Key}, {"node", op.Node}} {
			if !utf8.ValidString(n.v) {
				return malformed(op, "the %s %q is not valid UTF-8; distinct names would merge", n.name, n.v)
			}
		}
		if len(op.Value) > 0 {
			if !json.Valid(op.Value) {
				return malformed(op, "the value is not JSON")
			}
			if err := checkText(op.Value); err != nil {
				return malformed(op, "the value's %v; distinct values would compare equal", err)
			}
		}
		if len(fs) > 0 && !op.IsNemesis() && op.Type == Invoke && !contains(fs, op.F) {
			return malformed(op, "operation %q is not one this checker's contract defines (%v)", op.F, fs)
		}
	}
	_, err := PairIndex(ops)
	return err
}

func contains(fs []string, f string) bool {
	for _, x := range fs {
		if x == f {
			return true
		}
	}
	return false
}

// PairIndex matches every record with its partner and returns, for each
// position in ops, the position of the other half of its operation, or -1
// for an invocation the history ended before completing.
//
// A client process has at most one operation open: its completion closes
// it, and must name the same operation, and the same key and node where
// both records name one. The nemesis is one process whose faults may
// overlap (a triggered fault is applied while a scheduled one is under way,
// or several nemeses run): a nemesis completion closes the oldest open
// nemesis invocation of the same operation whose node is the same, or
// either record's node is empty. Anything else is a *MalformedError.
func PairIndex(ops []Op) ([]int, error) {
	partner := make([]int, len(ops))
	open := make(map[int]int) // client process -> position of its open invocation
	var nem nemesisOpen
	for i := range ops {
		op := &ops[i]
		partner[i] = -1
		if op.IsNemesis() {
			if op.Type == Invoke {
				nem = append(nem, i)
				continue
			}
			j := nem.close(ops, op)
			if j < 0 {
				return nil, malformed(op, "nemesis completes %q (%s) on %q with no open invocation of it", op.F, op.Type, op.Node)
			}
			if op.Time < ops[j].Time {
				return nil, malformed(op, "the %s at %d ns is earlier than its invocation (record %d at %d ns)", op.Type, op.Time, ops[j].Index, ops[j].Time)
			}
			partner[i], partner[j] = j, i
			continue
		}
		if op.Type == Invoke {
			if j, busy := open[op.Process]; busy {
				return nil, malformed(op, "process %d invokes %q while its %q (record %d) is still open",
					op.Process, op.F, ops[j].F, ops[j].Index)
			}
			open[op.Process] = i
			continue
		}
		j, ok := open[op.Process]
		if !ok {
			return nil, malformed(op, "process %d completes %q (%s) with no open invocation", op.Process, op.F, op.Type)
		}
		inv := &ops[j]
		switch {
		case inv.F != op.F:
			return nil, malformed(op, "process %d completes %q but invoked %q (record %d)", op.Process, op.F, inv.F, inv.Index)
		case inv.Key != "" && op.Key != "" && inv.Key != op.Key:
			return nil, malformed(op, "the completion names key %q but its invocation (record %d) key %q", op.Key, inv.Index, inv.Key)
		case inv.Node != "" && op.Node != "" && inv.Node != op.Node:
			return nil, malformed(op, "the completion names node %q but its invocation (record %d) node %q", op.Node, inv.Index, inv.Node)
		case op.Time < inv.Time:
			return nil, malformed(op, "the %s at %d ns is earlier than its invocation (record %d at %d ns)", op.Type, op.Time, inv.Index, inv.Time)
		}
		delete(open, op.Process)
		partner[i], partner[j] = j, i
	}
	return partner, nil
}

// nemesisOpen holds the positions of open nemesis invocations, oldest first.
type nemesisOpen []int

// close removes and returns the open invocation op completes, -1 if none.
func (n *nemesisOpen) close(ops []Op, op *Op) int {
	for k, j := range *n {
		inv := &ops[j]
		if inv.F == op.F && (inv.Node == op.Node || inv.Node == "" || op.Node == "") {
			*n = append((*n)[:k], (*n)[k+1:]...)
			return j
		}
	}
	return -1
}
