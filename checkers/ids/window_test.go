package ids

import (
	"testing"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/history"
)

// Class 4: a clock fault that failed widened its node's window as if it had
// moved the clock, hiding an ID out of its window. Fails before only
// applied faults were used.
func TestFailedClockFaultDoesNotWidenTheWindow(t *testing.T) {
	var b builder
	v := []byte(`{"delta":"-3s","max_offset_ns":3000000000}`)
	b.add(history.NemesisProcess, history.Invoke, "clock-rollback", 0.5, "n1", v)
	b.add(history.NemesisProcess, history.Fail, "clock-rollback", 0.6, "n1", nil)
	b.gen(0, "n1", 1.0, 1.01, history.OK, idAt(t, -1.0, 1, 0)) // 2 s early
	r := check(t, &b)
	if r.Valid != checkers.Invalid || r.AnomalyCounts[KindOutOfWindow] != 1 {
		t.Fatalf("got %v %v, want the ID out of its window", r.Valid, r.AnomalyCounts)
	}
	// The same fault applied (or indeterminate) explains the timestamp.
	for _, typ := range []history.Type{history.OK, history.Info} {
		b.ops[1].Type = typ
		if r := check(t, &b); r.Valid != checkers.Valid {
			t.Fatalf("%s fault: got %v %v, want valid", typ, r.Valid, r.AnomalyCounts)
		}
	}
}

// A header without a start, or records before it, cannot place any ID on
// the run's time line: unknown, not every ID out of window (before).
func TestNoStartOrTimesBeforeItAreUnknown(t *testing.T) {
	var b builder
	b.gen(0, "n1", 1.0, 1.01, history.OK, idAt(t, 1.005, 1, 0))
	f := b.file()
	f.Header = history.Header{}
	if r := New(sf).Check(t.Context(), f); r.Valid != checkers.Unknown || r.Error == "" {
		t.Fatalf("no start: got %v %v", r.Valid, r.AnomalyCounts)
	}
	b.ops[0].Time = -int64(1e9)
	if r := check(t, &b); r.Valid != checkers.Unknown || r.Error == "" {
		t.Fatalf("time before start: got %v %v", r.Valid, r.AnomalyCounts)
	}
}

// Faults overlap: a clock fault that failed while another was under way
// must not widen its node's window. Before, the failed fault was taken as
// applied because the next nemesis record was the other fault's
// invocation, not its own completion.
func TestFailedClockFaultAmongOverlappingFaults(t *testing.T) {
	var b builder
	v := []byte(`{"delta":"-3s","max_offset_ns":3000000000}`)
	b.add(history.NemesisProcess, history.Invoke, "clock-rollback", 0.5, "n1", v)
	b.add(history.NemesisProcess, history.Invoke, "clock-rollback", 0.51, "n2", v)
	b.add(history.NemesisProcess, history.OK, "clock-rollback", 0.55, "n2", nil)
	b.add(history.NemesisProcess, history.Fail, "clock-rollback", 0.6, "n1", nil)
	b.gen(0, "n1", 1.0, 1.01, history.OK, idAt(t, -1.0, 1, 0)) // 2 s early
	r := check(t, &b)
	if r.Valid != checkers.Invalid || r.AnomalyCounts[KindOutOfWindow] != 1 {
		t.Fatalf("got %v %v %s, want the ID out of its window", r.Valid, r.AnomalyCounts, r.Error)
	}
	b.ops[3].Type = history.Info
	if r := check(t, &b); r.Valid != checkers.Valid {
		t.Fatalf("indeterminate fault: got %v %v, want valid", r.Valid, r.AnomalyCounts)
	}
}
