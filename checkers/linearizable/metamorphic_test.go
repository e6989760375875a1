package linearizable

import (
	"context"
	"testing"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/history"
)

// testdata/refkv-register.jsonl was recorded from the reference store in
// its linearizable mode under kill and pause faults (chaos run refkv
// --refkv-mode linearizable --nemesis kill,pause --nemesis-interval 1s
// --time-limit 4s --rate 60 --concurrency 4 --register-keys 2 --seed 5).
// It is valid; each test injects one anomaly and requires invalid with a
// witness naming the operation changed, through the read-mapping check and
// through porcupine alone.

func loadRecorded(t *testing.T) *history.File {
	t.Helper()
	hf, err := history.ReadFile("testdata/refkv-register.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	return hf
}

func checkBoth(t *testing.T, hf *history.File, want checkers.Validity, injected int64) {
	t.Helper()
	for _, readMap := range []bool{true, false} {
		r := New(KV(CASRegister()), WithReadMapping(readMap)).Check(context.Background(), hf)
		if r.Valid != want {
			t.Fatalf("readMap=%v: %s, want %s: %s %s", readMap, r.Valid, want, r.Summary, r.Error)
		}
		if want != checkers.Invalid {
			continue
		}
		named := false
		for _, a := range r.Anomalies {
			for _, op := range a.Ops {
				named = named || op.Index == injected
			}
		}
		if !named {
			t.Fatalf("readMap=%v: the witness does not name record #%d: %+v", readMap, injected, r.Anomalies)
		}
	}
}

func TestRecordedHistoryValid(t *testing.T) {
	hf := loadRecorded(t)
	checkBoth(t, hf, checkers.Valid, -1)
	r := New(KV(CASRegister())).Check(context.Background(), hf)
	if r.Counts["info"] == 0 || r.Counts["read_mapped_partitions"] != r.Counts["partitions"] {
		t.Fatalf("the recorded history should have info operations and be read-mapped: %v", r.Counts)
	}
}

func TestInjectedReadOfUnwrittenValue(t *testing.T) {
	for i, op := range loadRecorded(t).Ops {
		if op.Type != history.OK || op.F != "read" || op.Value == nil {
			continue
		}
		hf := loadRecorded(t)
		hf.Ops[i].Value = history.Int(777)
		checkBoth(t, hf, checkers.Invalid, hf.Ops[i].Index)
		return
	}
	t.Fatal("no ok read in the recorded history")
}

func TestInjectedStaleRead(t *testing.T) {
	hf := loadRecorded(t)
	pairs, err := history.ClientPairs(hf.Ops)
	if err != nil {
		t.Fatal(err)
	}
	pos := map[int64]int{}
	for i, op := range hf.Ops {
		pos[op.Index] = i
	}
	// A read invoked after a write (or cas) w2 completed, w2 invoked after
	// a write w1 of the same key completed: reading w1's value there is
	// stale.
	isWrite := func(p history.Pair, key string) bool {
		return p.Outcome() == history.OK && (p.Invoke.F == "write" || p.Invoke.F == "cas") && p.Invoke.Key == key
	}
	tried := 0
reads:
	for _, rd := range pairs {
		if rd.Outcome() != history.OK || rd.Invoke.F != "read" {
			continue
		}
		for _, w2 := range pairs {
			if !isWrite(w2, rd.Invoke.Key) || w2.Complete.Index > rd.Invoke.Index {
				continue
			}
			for _, w1 := range pairs {
				if !isWrite(w1, rd.Invoke.Key) || w1.Invoke.F != "write" || w1.Complete.Index > w2.Invoke.Index {
					continue
				}
				h := loadRecorded(t)
				h.Ops[pos[rd.Complete.Index]].Value = w1.Invoke.Value
				checkBoth(t, h, checkers.Invalid, rd.Complete.Index)
				if tried++; tried == 5 {
					return
				}
				continue reads
			}
		}
	}
	if tried == 0 {
		t.Fatal("no read, write, write pattern in the recorded history")
	}
}
