package ids

import (
	"context"
	"strings"
	"testing"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/history"
)

// Counter IDs carry no timestamp: small numbers that a snowflake layout
// would place in 2020 are fine, duplicates and a node going back are not.
func TestCounterLayout(t *testing.T) {
	counter := New(Counter())
	var ok builder
	for i := 0; i < 5; i++ {
		ok.gen(i%2, "n1", float64(i), float64(i)+0.5, history.OK, uint64(i+1))
	}
	if r := New(sf).Check(context.Background(), ok.file()); r.Valid != checkers.Invalid {
		t.Fatalf("snowflake layout on counter values: %s, want invalid (timestamps far outside the run)", r.Valid)
	}
	r := counter.Check(context.Background(), ok.file())
	if r.Valid != checkers.Valid || strings.Contains(r.Summary, "time window") {
		t.Fatalf("counter: %s %q, want valid without a word on time windows", r.Valid, r.Summary)
	}

	var dup builder
	dup.gen(0, "n1", 0, 0.1, history.OK, 7)
	dup.gen(1, "n2", 1, 1.1, history.Info, 0)
	dup.gen(1, "n2", 2, 2.1, history.OK, 7)
	r = counter.Check(context.Background(), dup.file())
	if r.Valid != checkers.Invalid || r.AnomalyCounts[KindDuplicate] != 1 {
		t.Fatalf("duplicate counter value: %s %v, want one duplicate-id", r.Valid, r.AnomalyCounts)
	}
	a := r.Anomalies[0]
	if !strings.Contains(a.Message, "ID 7 was issued 2 times") || strings.Contains(a.Message, "timestamp") {
		t.Fatalf("witness %q: want the plain number, no timestamp", a.Message)
	}

	var back builder
	back.gen(0, "n1", 0, 0.1, history.OK, 10)
	back.gen(0, "n1", 1, 1.1, history.OK, 9)
	if r := counter.Check(context.Background(), back.file()); r.AnomalyCounts[KindNonMonotone] != 1 {
		t.Fatalf("counter going back on a node: %v, want one non-monotonic-id", r.AnomalyCounts)
	}

	var none builder
	none.gen(0, "n1", 0, 0.1, history.Info, 0)
	if r := counter.Check(context.Background(), none.file()); r.Valid != checkers.Unknown {
		t.Fatalf("nothing acknowledged: %s, want unknown", r.Valid)
	}
}
