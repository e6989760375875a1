package lock_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/checkers/lock"
	"github.com/chaostest/chaos/history"
)

// Real runs, valid as recorded; each test injects one anomaly and requires
// invalid with a witness naming the injected operation.
//
//	chaos run redis --workload lock-set --time-limit 3s --rate 40 --seed 13
//	chaos run etcd --workload lock-set --etcd-lock-set fenced --time-limit 3s --rate 40 --seed 14
const (
	redisRun = "testdata/redis-redlock-lock-set.jsonl"
	etcdRun  = "testdata/etcd-fenced-lock-set.jsonl"
)

func recorded(t *testing.T, path string) *history.File {
	t.Helper()
	h, err := history.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if r := lock.New(lock.WithResource(true)).Check(context.Background(), h); r.Valid != checkers.Valid {
		t.Fatalf("%s untouched: %v %s", path, r.Valid, r.Summary)
	}
	return h
}

// insert puts ops before record at and renumbers the history.
func insert(h *history.File, at int, ops ...history.Op) {
	out := append(append(append([]history.Op(nil), h.Ops[:at]...), ops...), h.Ops[at:]...)
	for i := range out {
		out[i].Index = int64(i)
	}
	h.Ops = out
}

func judge(t *testing.T, h *history.File, kind string) checkers.Anomaly {
	t.Helper()
	r := lock.New(lock.WithResource(true)).Check(context.Background(), h)
	if r.Valid != checkers.Invalid || r.AnomalyCounts[kind] == 0 {
		t.Fatalf("want %s: %v %v %s", kind, r.Valid, r.AnomalyCounts, r.Summary)
	}
	for _, a := range r.Anomalies {
		if a.Kind == kind {
			return a
		}
	}
	t.Fatalf("no %s witness", kind)
	return checkers.Anomaly{}
}

func names(a checkers.Anomaly, index int64) bool {
	for _, op := range a.Ops {
		if op.Index == index {
			return true
		}
	}
	return false
}

func firstOK(h *history.File, f string, from int) int {
	for i := from; i < len(h.Ops); i++ {
		if h.Ops[i].Type == history.OK && h.Ops[i].F == f {
			return i
		}
	}
	return -1
}

func TestRecordedRunWithTwoOverlappingHolds(t *testing.T) {
	for _, path := range []string{redisRun, etcdRun} {
		h := recorded(t, path)
		// A process of its own is granted the lock just after the first
		// holder got it.
		acq := firstOK(h, "acquire", 0)
		at, key := h.Ops[acq].Time, h.Ops[acq].Key
		g := lock.Grant{Token: "injected", Client: "c-injected", Nodes: []string{"n1"}}
		insert(h, acq+1,
			history.Op{Process: 99, Type: history.Invoke, F: "acquire", Key: key, Time: at, Node: "n1", Value: history.JSON(lock.AcquireArgs{TTL: 1e9})},
			history.Op{Process: 99, Type: history.OK, F: "acquire", Key: key, Time: at + 1, Node: "n1", Value: history.JSON(g)})
		if a := judge(t, h, lock.KindOverlap); !names(a, int64(acq+2)) {
			t.Fatalf("%s: witness does not name the injected grant (record %d): %v", path, acq+2, a.Ops)
		}
	}
}

func TestRecordedRunWithAnAcknowledgedWriteLost(t *testing.T) {
	for _, path := range []string{redisRun, etcdRun} {
		h := recorded(t, path)
		w := firstOK(h, "write", 0)
		var wr lock.WriteResult
		if err := json.Unmarshal(h.Ops[w].Value, &wr); err != nil {
			t.Fatal(err)
		}
		// The final read no longer holds that write's element.
		last := len(h.Ops) - 1
		var rr lock.ReadResult
		if err := json.Unmarshal(h.Ops[last].Value, &rr); err != nil || h.Ops[last].F != "read" {
			t.Fatalf("%s: last record is not the final read: %v", path, h.Ops[last])
		}
		var kept []int64
		for _, x := range rr.Set {
			if x != wr.Add {
				kept = append(kept, x)
			}
		}
		h.Ops[last].Value = history.JSON(lock.ReadResult{Set: kept})
		if a := judge(t, h, lock.KindLostUpdate); !names(a, int64(w)) {
			t.Fatalf("%s: witness does not name the lost write (record %d): %v", path, w, a.Ops)
		}
	}
}

func TestRecordedRunWithAFenceSwapped(t *testing.T) {
	h := recorded(t, etcdRun)
	a := firstOK(h, "acquire", 0)
	b := firstOK(h, "acquire", a+1)
	var ga, gb lock.Grant
	if json.Unmarshal(h.Ops[a].Value, &ga) != nil || json.Unmarshal(h.Ops[b].Value, &gb) != nil || ga.Fence == nil || gb.Fence == nil {
		t.Fatal("the fenced run's grants carry no fencing tokens")
	}
	ga.Fence, gb.Fence = gb.Fence, ga.Fence
	h.Ops[a].Value, h.Ops[b].Value = history.JSON(ga), history.JSON(gb)
	if w := judge(t, h, lock.KindFenceBack); !names(w, int64(b)) || !names(w, int64(a)) {
		t.Fatalf("witness does not name the swapped grants (records %d and %d): %v", a, b, w.Ops)
	}
}
