package lock_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/checkers/lock"
	"github.com/chaostest/chaos/history"
)

// hb builds a history by hand; times are in milliseconds.
type hb struct {
	ops []history.Op
	key string
}

func (b *hb) add(ms int64, proc int, t history.Type, f string, v any, node string) {
	key := b.key
	if key == "" {
		key = "l"
	}
	op := history.Op{Index: int64(len(b.ops)), Process: proc, Type: t, F: f, Key: key, Time: ms * int64(time.Millisecond), Node: node}
	if v != nil {
		op.Value = history.JSON(v)
	}
	b.ops = append(b.ops, op)
}

func (b *hb) file() *history.File {
	return &history.File{Header: history.Header{Workload: "lock-set"}, Ops: b.ops}
}

func ms(n int64) int64 { return n * int64(time.Millisecond) }

func grant(client string, validityMS int64, fence *int64, nodes ...string) lock.Grant {
	return lock.Grant{Token: client + "-tok", Client: client, Validity: ms(validityMS), Fence: fence, Nodes: nodes}
}

func i64(n int64) *int64 { return &n }

// acquire records an acquire of proc from inv to ok.
func (b *hb) acquire(inv, ok int64, proc int, g lock.Grant) {
	b.add(inv, proc, history.Invoke, "acquire", lock.AcquireArgs{TTL: ms(1000)}, "n1")
	b.add(ok, proc, history.OK, "acquire", g, "n1")
}

func (b *hb) release(inv, ok int64, proc int, t history.Type) {
	b.add(inv, proc, history.Invoke, "release", nil, "n1")
	b.add(ok, proc, t, "release", nil, "n1")
}

func (b *hb) fault(at int64, f, node string) {
	b.add(at, history.NemesisProcess, history.Invoke, f, nil, node)
	b.add(at, history.NemesisProcess, history.OK, f, nil, node)
}

func (b *hb) readWrite(at int64, proc int, read []int64, add int64, seq int64, fence *int64, wt history.Type) {
	b.add(at, proc, history.Invoke, "read", lock.ReadArgs{}, "n1")
	b.add(at+1, proc, history.OK, "read", lock.ReadResult{Set: read}, "n1")
	b.add(at+2, proc, history.Invoke, "write", lock.WriteArgs{Add: add}, "n1")
	set := append(append([]int64(nil), read...), add)
	if wt == history.OK {
		b.add(at+3, proc, wt, "write", lock.WriteResult{Add: add, Set: set, Seq: seq, Fence: fence}, "n1")
	} else {
		b.add(at+3, proc, wt, "write", nil, "n1")
	}
}

func (b *hb) final(at int64, set []int64) {
	b.add(at, 9, history.Invoke, "read", lock.ReadArgs{Final: true}, "n1")
	b.add(at+1, 9, history.OK, "read", lock.ReadResult{Set: set}, "n1")
}

func check(t *testing.T, b *hb, resource bool) checkers.Result {
	t.Helper()
	r := lock.New(lock.WithResource(resource)).Check(context.Background(), b.file())
	js, _ := json.MarshalIndent(r, "", " ")
	t.Logf("%s", js)
	return r
}

func TestEmptyHistoryIsUnknown(t *testing.T) {
	r := check(t, &hb{}, true)
	if r.Valid != checkers.Unknown {
		t.Fatalf("empty history: got %v, want unknown", r.Valid)
	}
}

func TestSequentialHoldsValid(t *testing.T) {
	b := &hb{}
	b.acquire(0, 10, 0, grant("c0", 1000, i64(1), "n1"))
	b.readWrite(20, 0, nil, 1, 1, i64(1), history.OK)
	b.release(30, 31, 0, history.OK)
	// c1 tried while c0 held it and was refused.
	b.add(15, 1, history.Invoke, "acquire", nil, "n1")
	b.add(16, 1, history.Fail, "acquire", nil, "n1")
	b.acquire(32, 40, 1, grant("c1", 1000, i64(2), "n1"))
	b.readWrite(41, 1, []int64{1}, 2, 2, i64(2), history.OK)
	b.release(50, 51, 1, history.OK)
	b.final(60, []int64{1, 2})
	r := check(t, b, true)
	if r.Valid != checkers.Valid {
		t.Fatalf("got %v (%s), want valid", r.Valid, r.Summary)
	}
}

func TestOverlapWithinValidityNamesBothHoldsNodesAndFault(t *testing.T) {
	b := &hb{}
	b.acquire(0, 10, 0, grant("c0", 5000, nil, "n1", "n2", "n3"))
	b.fault(500, "clock-jump", "n3")
	b.fault(600, "clock-jump", "n1") // later, but not on a node both got
	b.acquire(1000, 1010, 1, grant("c1", 5000, nil, "n3", "n4", "n5"))
	b.release(2000, 2001, 0, history.OK)
	b.release(2100, 2101, 1, history.OK)
	r := check(t, b, false)
	if r.Valid != checkers.Invalid || r.AnomalyCounts[lock.KindOverlap] != 1 {
		t.Fatalf("got %v %v, want one overlap", r.Valid, r.AnomalyCounts)
	}
	a := r.Anomalies[0]
	for _, want := range []string{"c0", "c1", "n1,n2,n3", "n3,n4,n5", "Granted to both by n3", "clock-jump", "within their claimed validity"} {
		if !strings.Contains(a.Message, want) {
			t.Errorf("witness %q lacks %q", a.Message, want)
		}
	}
	if a.Fault == nil || a.Fault.Node != "n3" {
		t.Errorf("fault = %v, want the clock jump on n3", a.Fault)
	}
	if len(a.Processes) != 2 || len(a.Nodes) != 5 {
		t.Errorf("processes %v nodes %v", a.Processes, a.Nodes)
	}
}

func TestHoldEndsAtValidityDeadline(t *testing.T) {
	// c0's lease of 100ms ran out at 100ms; c1 got the lock at 200ms while
	// c0 had not released yet: not an overlap, the lock kept its promise.
	b := &hb{}
	b.acquire(0, 10, 0, grant("c0", 100, nil, "n1"))
	b.acquire(150, 200, 1, grant("c1", 100, nil, "n1"))
	b.release(250, 251, 1, history.OK)
	b.release(400, 401, 0, history.Fail)
	r := check(t, b, false)
	if r.Valid != checkers.Valid {
		t.Fatalf("got %v %v, want valid", r.Valid, r.Anomalies)
	}
	// Without validity the same timing is an overlap.
	b = &hb{}
	b.acquire(0, 10, 0, grant("c0", 0, nil, "n1"))
	b.acquire(150, 200, 1, grant("c1", 0, nil, "n1"))
	b.release(250, 251, 1, history.OK)
	b.release(400, 401, 0, history.OK)
	if r := check(t, b, false); r.AnomalyCounts[lock.KindOverlap] != 1 {
		t.Fatalf("got %v, want one overlap", r.AnomalyCounts)
	}
}

func TestInfoAcquireIsNotEvidence(t *testing.T) {
	b := &hb{}
	b.acquire(0, 10, 0, grant("c0", 0, nil, "n1"))
	b.add(20, 1, history.Invoke, "acquire", nil, "n1")
	b.add(30, 1, history.Info, "acquire", nil, "n1")
	b.add(25, 2, history.Invoke, "acquire", nil, "n1") // never completes
	b.release(40, 41, 0, history.OK)
	r := check(t, b, false)
	if r.Valid != checkers.Valid {
		t.Fatalf("got %v, want valid", r.Valid)
	}
	if r.Counts["acquire-info"] != 2 {
		t.Errorf("info acquires counted %d, want 2", r.Counts["acquire-info"])
	}
}

func TestConcurrentAcquiresOnlyOneGranted(t *testing.T) {
	b := &hb{}
	b.add(0, 0, history.Invoke, "acquire", nil, "n1")
	b.add(1, 1, history.Invoke, "acquire", nil, "n1")
	b.add(5, 1, history.Fail, "acquire", nil, "n1")
	b.add(6, 0, history.OK, "acquire", grant("c0", 0, nil, "n1"), "n1")
	b.release(10, 11, 0, history.OK)
	if r := check(t, b, false); r.Valid != checkers.Valid {
		t.Fatalf("got %v, want valid", r.Valid)
	}
}

func TestLostUpdateAfterPause(t *testing.T) {
	// c0 reads, pauses past its 100ms lease, c1 takes the lock and writes,
	// c0 wakes and overwrites.
	b := &hb{}
	b.acquire(0, 10, 0, grant("c0", 100, nil, "n1"))
	b.add(11, 0, history.Invoke, "read", lock.ReadArgs{}, "n1")
	b.fault(12, "client-pause", "")
	b.add(500, 0, history.OK, "read", lock.ReadResult{Set: []int64{}}, "n1")
	b.acquire(150, 160, 1, grant("c1", 100, nil, "n1"))
	b.readWrite(170, 1, []int64{}, 2, 1, nil, history.OK)
	b.release(180, 181, 1, history.OK)
	b.add(501, 0, history.Invoke, "write", lock.WriteArgs{Add: 1}, "n1")
	b.add(502, 0, history.OK, "write", lock.WriteResult{Add: 1, Set: []int64{1}, Seq: 2}, "n1")
	b.release(503, 504, 0, history.Fail)
	b.final(600, []int64{1})
	r := check(t, b, true)
	if r.Valid != checkers.Invalid || r.AnomalyCounts[lock.KindLostUpdate] != 1 || r.AnomalyCounts[lock.KindLateWrite] != 1 {
		t.Fatalf("got %v %v, want a lost update and a late write", r.Valid, r.AnomalyCounts)
	}
	if r.AnomalyCounts[lock.KindOverlap] != 0 {
		t.Errorf("the holds never overlapped within validity, got %v", r.AnomalyCounts)
	}
	for _, a := range r.Anomalies {
		if a.Fault == nil || a.Fault.F != "client-pause" {
			t.Errorf("%s: fault %v, want the client pause", a.Kind, a.Fault)
		}
		if !strings.Contains(a.Message, "c0") || !strings.Contains(a.Message, "c1") {
			t.Errorf("%s: witness %q must name both clients", a.Kind, a.Message)
		}
	}
}

func TestFencingRejectedStaleWriteIsValid(t *testing.T) {
	b := &hb{}
	b.acquire(0, 10, 0, grant("c0", 100, i64(1), "n1"))
	b.add(11, 0, history.Invoke, "read", lock.ReadArgs{}, "n1")
	b.add(500, 0, history.OK, "read", lock.ReadResult{Set: []int64{}}, "n1")
	b.acquire(150, 160, 1, grant("c1", 100, i64(2), "n1"))
	b.readWrite(170, 1, []int64{}, 2, 1, i64(2), history.OK)
	b.release(180, 181, 1, history.OK)
	b.add(501, 0, history.Invoke, "write", lock.WriteArgs{Add: 1}, "n1")
	b.add(502, 0, history.Fail, "write", nil, "n1")
	b.release(503, 504, 0, history.Fail)
	b.final(600, []int64{2})
	if r := check(t, b, true); r.Valid != checkers.Valid {
		t.Fatalf("got %v %v, want valid", r.Valid, r.AnomalyCounts)
	}
}

func TestFencingViolation(t *testing.T) {
	b := &hb{}
	b.acquire(0, 10, 0, grant("c0", 0, i64(5), "n1"))
	b.readWrite(20, 0, nil, 1, 1, i64(5), history.OK)
	b.release(30, 31, 0, history.OK)
	b.acquire(40, 50, 1, grant("c1", 0, i64(3), "n1"))
	b.readWrite(60, 1, []int64{1}, 2, 2, i64(3), history.OK)
	b.release(70, 71, 1, history.OK)
	b.final(80, []int64{1, 2})
	r := check(t, b, true)
	if r.AnomalyCounts[lock.KindFencing] != 1 {
		t.Fatalf("got %v, want one fencing violation", r.AnomalyCounts)
	}
}

func TestInfoWriteMayBeLostWithoutBlame(t *testing.T) {
	b := &hb{}
	b.acquire(0, 10, 0, grant("c0", 0, nil, "n1"))
	b.readWrite(20, 0, nil, 1, 0, nil, history.Info)
	b.release(30, 31, 0, history.OK)
	b.final(80, []int64{})
	if r := check(t, b, true); r.Valid != checkers.Valid {
		t.Fatalf("got %v %v, want valid", r.Valid, r.AnomalyCounts)
	}
}

func TestMissingFinalReadIsUnknown(t *testing.T) {
	b := &hb{}
	b.acquire(0, 10, 0, grant("c0", 0, nil, "n1"))
	b.readWrite(20, 0, nil, 1, 1, nil, history.OK)
	b.release(30, 31, 0, history.OK)
	if r := check(t, b, true); r.Valid != checkers.Unknown {
		t.Fatalf("got %v, want unknown", r.Valid)
	}
}

func TestUndecodableGrantIsUnknown(t *testing.T) {
	b := &hb{}
	b.add(0, 0, history.Invoke, "acquire", nil, "n1")
	b.ops = append(b.ops, history.Op{Index: 1, Process: 0, Type: history.OK, F: "acquire", Key: "l", Time: 5, Value: json.RawMessage(`"x"`)})
	if r := check(t, b, false); r.Valid != checkers.Unknown {
		t.Fatalf("got %v, want unknown", r.Valid)
	}
}

func TestCancelledCheckIsUnknown(t *testing.T) {
	b := &hb{}
	b.acquire(0, 10, 0, grant("c0", 0, nil, "n1"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := checkers.Run(ctx, b.file(), []checkers.Checker{lock.New()})
	if r.Valid != checkers.Unknown {
		t.Fatalf("got %v, want unknown", r.Valid)
	}
}

func TestEachLockHasItsOwnResource(t *testing.T) {
	b := &hb{key: "a"}
	b.acquire(0, 10, 0, grant("c0", 0, i64(1), "n1"))
	b.key = "b"
	b.acquire(1, 11, 1, grant("c1", 0, i64(1), "n1"))
	b.key = "a"
	b.readWrite(20, 0, nil, 1, 1, i64(1), history.OK)
	b.release(30, 31, 0, history.OK)
	b.key = "b"
	b.readWrite(21, 1, nil, 2, 1, i64(1), history.OK)
	b.release(32, 33, 1, history.OK)
	b.key = "a"
	b.final(60, []int64{1})
	// Holds of different locks overlap freely; without b's final read its
	// writes cannot be judged.
	if r := check(t, b, true); r.Valid != checkers.Unknown {
		t.Fatalf("got %v %v, want unknown", r.Valid, r.AnomalyCounts)
	}
	b.key = "b"
	b.final(70, []int64{2})
	if r := check(t, b, true); r.Valid != checkers.Valid {
		t.Fatalf("got %v %v, want valid", r.Valid, r.AnomalyCounts)
	}
}

func TestLateWriteAcceptedUnderFencingIsCountedNotBlamed(t *testing.T) {
	// c0's lease ran out at 100ms; c1 took the lock (fence 2) but had not
	// written yet when the resource took c0's late write with fence 1. c1
	// then read it and kept it: nothing lost, tokens in order.
	b := &hb{}
	b.acquire(0, 10, 0, grant("c0", 100, i64(1), "n1"))
	b.add(11, 0, history.Invoke, "read", lock.ReadArgs{}, "n1")
	b.add(140, 0, history.OK, "read", lock.ReadResult{Set: []int64{}}, "n1")
	b.acquire(150, 160, 1, grant("c1", 100, i64(2), "n1"))
	b.add(170, 0, history.Invoke, "write", lock.WriteArgs{Add: 1}, "n1")
	b.add(171, 0, history.OK, "write", lock.WriteResult{Add: 1, Set: []int64{1}, Seq: 1, Fence: i64(1)}, "n1")
	b.readWrite(180, 1, []int64{1}, 2, 2, i64(2), history.OK)
	b.release(190, 191, 1, history.OK)
	b.release(200, 201, 0, history.Fail)
	b.final(300, []int64{1, 2})
	r := check(t, b, true)
	if r.Valid != checkers.Valid || r.Counts["late-writes-fenced"] != 1 {
		t.Fatalf("got %v %v %v, want valid with one fenced late write counted", r.Valid, r.AnomalyCounts, r.Counts)
	}
}
