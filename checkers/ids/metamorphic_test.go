package ids_test

import (
	"context"
	"testing"
	"time"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/checkers/ids"
	"github.com/chaostest/chaos/history"
)

// A real run (chaos run snowflake --mode monotonic --nemesis clock
// --time-limit 3s --rate 50 --seed 11): valid as recorded, invalid with one
// injected anomaly, whose witness names the injected operation.
const snowflakeRun = "testdata/snowflake-monotonic-clock.jsonl"

func checkIDs(t *testing.T, h *history.File) checkers.Result {
	t.Helper()
	epoch, err := time.Parse(time.RFC3339, h.Header.Params["epoch"])
	if err != nil {
		t.Fatal(err)
	}
	return ids.New(ids.Snowflake(epoch)).Check(context.Background(), h)
}

func TestRecordedRunWithOneDuplicatedID(t *testing.T) {
	h, err := history.ReadFile(snowflakeRun)
	if err != nil {
		t.Fatal(err)
	}
	if r := checkIDs(t, h); r.Valid != checkers.Valid {
		t.Fatalf("untouched run: %v %s", r.Valid, r.Summary)
	}
	// Give a late ID, from another node, the value of an early one.
	var first, last int = -1, -1
	for i, op := range h.Ops {
		if op.Type == history.OK && op.F == ids.Generate {
			if first < 0 {
				first = i
			} else if op.Node != h.Ops[first].Node {
				last = i
			}
		}
	}
	h.Ops[last].Value = append([]byte(nil), h.Ops[first].Value...)
	r := checkIDs(t, h)
	if r.Valid != checkers.Invalid || r.AnomalyCounts[ids.KindDuplicate] != 1 {
		t.Fatalf("duplicated ID: %v %v", r.Valid, r.AnomalyCounts)
	}
	a := r.Anomalies[0]
	if a.Kind != ids.KindDuplicate || len(a.Ops) != 2 || a.Ops[1].Index != int64(last) || a.Ops[0].Index != int64(first) {
		t.Fatalf("witness does not name records %d and %d: %+v", first, last, a)
	}
}
