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
