package lock_test

import (
	"strings"
	"testing"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/checkers/lock"
	"github.com/chaostest/chaos/history"
)

// Class 1: holds were tracked per process, so acquiring a second lock
// ended the hold on the first, and releasing one ended the other. Each of
// these failed before holds were tracked per (process, lock).

func TestTwoLocksHeldAtOnceKeepBothHolds(t *testing.T) {
	b := &hb{}
	b.key = "a"
	b.acquire(0, 10, 0, grant("c0", 0, nil, "n1"))
	b.key = "b"
	b.acquire(20, 30, 0, grant("c0", 0, nil, "n1")) // c0 now holds a and b
	b.key = "a"
	b.acquire(40, 50, 1, grant("c1", 0, nil, "n1")) // c1 gets a while c0 still holds it
	b.release(60, 61, 1, history.OK)
	b.release(70, 71, 0, history.OK)
	b.key = "b"
	b.release(80, 81, 0, history.OK)
	r := check(t, b, false)
	if r.Valid != checkers.Invalid || r.AnomalyCounts[lock.KindOverlap] != 1 {
		t.Fatalf("got %v %v, want one overlap on a", r.Valid, r.AnomalyCounts)
	}
	if !strings.Contains(r.Anomalies[0].Message, "held a") {
		t.Errorf("witness %q is not about lock a", r.Anomalies[0].Message)
	}
}

func TestReleasingOneLockKeepsTheOther(t *testing.T) {
	b := &hb{}
	b.key = "a"
	b.acquire(0, 10, 0, grant("c0", 0, nil, "n1"))
	b.key = "b"
	b.acquire(20, 30, 0, grant("c0", 0, nil, "n1"))
	b.release(40, 41, 0, history.OK) // c0 gives b back, still holds a
	b.key = "a"
	b.acquire(50, 60, 1, grant("c1", 0, nil, "n1"))
	b.release(70, 71, 1, history.OK)
	b.release(80, 81, 0, history.OK)
	r := check(t, b, false)
	if r.Valid != checkers.Invalid || r.AnomalyCounts[lock.KindOverlap] != 1 {
		t.Fatalf("got %v %v, want the overlap on a", r.Valid, r.AnomalyCounts)
	}
}

func TestWriteIsNotCreditedToAnotherLocksHold(t *testing.T) {
	b := &hb{}
	b.key = "a"
	b.acquire(0, 10, 0, grant("c0", 0, nil, "n1"))
	b.key = "b" // c0 holds a, writes b's resource
	b.readWrite(20, 0, nil, 7, 1, nil, history.OK)
	b.final(100, []int64{7})
	b.key = "a"
	b.release(40, 41, 0, history.OK)
	r := check(t, b, true)
	if r.Valid != checkers.Invalid || r.AnomalyCounts[lock.KindUnguarded] != 1 {
		t.Fatalf("got %v %v, want a write-without-lock on b", r.Valid, r.AnomalyCounts)
	}
}

// Class 2: a fencing token going backwards across successive grants passed
// when nothing was written between them.
func TestFenceRegressionWithoutWrites(t *testing.T) {
	b := &hb{}
	b.acquire(0, 10, 0, grant("c0", 0, i64(5), "n1"))
	b.release(20, 21, 0, history.OK)
	b.acquire(30, 40, 1, grant("c1", 0, i64(3), "n1"))
	b.release(50, 51, 1, history.OK)
	r := check(t, b, false)
	if r.Valid != checkers.Invalid || r.AnomalyCounts[lock.KindFenceBack] != 1 {
		t.Fatalf("got %v %v, want a fence regression", r.Valid, r.AnomalyCounts)
	}
	a := r.Anomalies[0]
	if len(a.Ops) != 3 || a.Ops[2].Index != 5 || !strings.Contains(a.Message, "token 5") || !strings.Contains(a.Message, "lower token 3") {
		t.Fatalf("witness %+v", a)
	}
	// Concurrent requests may be granted in either order: no regression.
	b = &hb{}
	b.add(0, 0, history.Invoke, "acquire", nil, "n1")
	b.add(1, 1, history.Invoke, "acquire", nil, "n1")
	b.add(10, 0, history.OK, "acquire", grant("c0", 50, i64(5), "n1"), "n1")
	b.add(11, 1, history.OK, "acquire", grant("c1", 0, i64(3), "n1"), "n1")
	if r := check(t, b, false); r.AnomalyCounts[lock.KindFenceBack] != 0 {
		t.Fatalf("concurrent grants flagged: %v", r.AnomalyCounts)
	}
}

func TestRejectedWriteVisibleInFinalRead(t *testing.T) {
	b := &hb{}
	b.acquire(0, 10, 0, grant("c0", 0, i64(1), "n1"))
	b.readWrite(20, 0, nil, 1, 1, i64(1), history.OK)
	b.readWrite(30, 0, []int64{1}, 2, 0, i64(1), history.Fail)
	b.release(40, 41, 0, history.OK)
	b.final(50, []int64{1, 2})
	r := check(t, b, true)
	if r.Valid != checkers.Invalid || r.AnomalyCounts[lock.KindRejected] != 1 {
		t.Fatalf("got %v %v, want rejected-write-visible", r.Valid, r.AnomalyCounts)
	}
	if a := r.Anomalies[0]; len(a.Ops) != 2 || a.Ops[1].Type != history.Fail || a.Ops[1].Index != 9 {
		t.Fatalf("witness ops %v", a.Ops)
	}
	// The same element from a write that may have happened proves nothing.
	b = &hb{}
	b.acquire(0, 10, 0, grant("c0", 0, i64(1), "n1"))
	b.readWrite(20, 0, nil, 2, 0, i64(1), history.Fail)
	b.readWrite(30, 0, nil, 2, 0, i64(1), history.Info)
	b.release(40, 41, 0, history.OK)
	b.final(50, []int64{2})
	if r := check(t, b, true); r.AnomalyCounts[lock.KindRejected] != 0 {
		t.Fatalf("ambiguous element flagged: %v", r.AnomalyCounts)
	}
}
