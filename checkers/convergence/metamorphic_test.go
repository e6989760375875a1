package convergence_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/checkers/convergence"
	"github.com/chaostest/chaos/history"
)

// A real run (chaos run gossip --nemesis partition --time-limit 3s --rate 40
// --seed 12): converged as recorded; each test injects one anomaly and
// requires invalid with a witness naming the injected operation.
const gossipRun = "testdata/gossip-partition.jsonl"

func recordedKV(t *testing.T) *history.File {
	t.Helper()
	h, err := history.ReadFile(gossipRun)
	if err != nil {
		t.Fatal(err)
	}
	if r := convergence.New().Check(context.Background(), h); r.Valid != checkers.Valid {
		t.Fatalf("untouched run: %v %s", r.Valid, r.Summary)
	}
	return h
}

func judgeKV(t *testing.T, h *history.File, kind string, index int64) {
	t.Helper()
	r := convergence.New().Check(context.Background(), h)
	if r.Valid != checkers.Invalid || r.AnomalyCounts[kind] == 0 {
		t.Fatalf("want %s: %v %v %s", kind, r.Valid, r.AnomalyCounts, r.Summary)
	}
	for _, a := range r.Anomalies {
		for _, op := range a.Ops {
			if a.Kind == kind && op.Index == index {
				return
			}
		}
	}
	t.Fatalf("no %s witness names record %d: %+v", kind, index, r.Anomalies)
}

// rewriteDumps applies f to every final dump's decoded value.
func rewriteDumps(t *testing.T, h *history.File, f func(d map[string]any)) {
	t.Helper()
	for i := range h.Ops {
		op := &h.Ops[i]
		if op.F != "dump" || op.Type != history.OK {
			continue
		}
		var d map[string]any
		dec := json.NewDecoder(bytes.NewReader(op.Value))
		dec.UseNumber() // versions are 64-bit: keep them exact
		if err := dec.Decode(&d); err != nil {
			t.Fatal(err)
		}
		f(d)
		op.Value = history.JSON(d)
	}
}

// winner finds the acknowledged write every node holds for some key, and
// the version it superseded there.
func winner(t *testing.T, h *history.File) (key string, write int64, value string) {
	t.Helper()
	held := map[string]string{}
	rewriteDumps(t, h, func(d map[string]any) {
		for _, e := range d["entries"].([]any) {
			m := e.(map[string]any)
			if v, ok := m["value"].(string); ok {
				held[m["key"].(string)] = v
			}
		}
	})
	for i, op := range h.Ops {
		if op.F == "write" && op.Type == history.OK && held[op.Key] != "" {
			var wr struct {
				Value json.Number `json:"value"`
			}
			if json.Unmarshal(op.Value, &wr) == nil && wr.Value.String() == held[op.Key] {
				return op.Key, int64(i), held[op.Key]
			}
		}
	}
	t.Fatal("no acknowledged write is held by the nodes")
	return
}

func TestRecordedRunWithAnAcknowledgedWriteRemovedFromTheDumps(t *testing.T) {
	h := recordedKV(t)
	key, w, _ := winner(t, h)
	// Every node forgets the key: the write is gone from the final dumps.
	rewriteDumps(t, h, func(d map[string]any) {
		var kept []any
		for _, e := range d["entries"].([]any) {
			if e.(map[string]any)["key"] != key {
				kept = append(kept, e)
			}
		}
		d["entries"] = kept
	})
	judgeKV(t, h, "lost-write", w)
}

func TestRecordedRunWithTheNewestVersionHoldingAnOldValue(t *testing.T) {
	h := recordedKV(t)
	key, w, value := winner(t, h)
	rewriteDumps(t, h, func(d map[string]any) {
		for _, e := range d["entries"].([]any) {
			if m := e.(map[string]any); m["key"] == key && m["value"] == value {
				m["value"] = "1" // the version stays the write's
			}
		}
	})
	judgeKV(t, h, "lost-write", w)
}

func TestRecordedRunWithAReadOfAValueNeverWritten(t *testing.T) {
	h := recordedKV(t)
	// Turn the first successful read into a read of a value nobody wrote.
	for i := range h.Ops {
		if op := &h.Ops[i]; op.F == "read" && op.Type == history.OK {
			op.Value = history.Int(424242)
			judgeKV(t, h, "phantom-read", int64(i))
			return
		}
	}
	t.Fatal("no read in the run")
}

func TestRecordedRunWithAFailedWriteInAVersionLog(t *testing.T) {
	h := recordedKV(t)
	// Mark an acknowledged write that some node logged as refused.
	_, w, _ := winner(t, h)
	inv := -1
	for i := int(w) - 1; i >= 0; i-- {
		if h.Ops[i].Process == h.Ops[w].Process && h.Ops[i].Type == history.Invoke {
			inv = i
			break
		}
	}
	h.Ops[w].Type, h.Ops[w].Value = history.Fail, nil
	judgeKV(t, h, "failed-write-visible", int64(inv))
}
