package linearizable

import (
	"context"
	"testing"
	"time"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/history"
)

func TestWatchFindsFirstViolation(t *testing.T) {
	hf := loadRecorded(t)
	// A stale read injected near the end: the watcher must find it from
	// the stream, and only once the record is there.
	c := New(KV(CASRegister()))
	w := c.Watch(context.Background(), &hf.Header)
	defer w.Close()
	for _, op := range hf.Ops {
		w.Observe(op)
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && w.(*watcher).checks.Load() == 0 {
		time.Sleep(20 * time.Millisecond)
	}
	if a := w.Violation(); a != nil {
		t.Fatalf("violation in a valid history: %+v", a)
	}
	if a := c.checkPrefix(context.Background(), &hf.Header, hf.Ops[:len(hf.Ops)/2]); a != nil {
		t.Fatalf("violation in a prefix of a valid history: %+v", a)
	}

	bad := loadRecorded(t)
	var injected int64 = -1
	for i := len(bad.Ops) - 1; i >= 0; i-- {
		if op := bad.Ops[i]; op.Type == history.OK && op.F == "read" {
			bad.Ops[i].Value, injected = history.Int(777), op.Index
			break
		}
	}
	w2 := c.Watch(context.Background(), &bad.Header)
	defer w2.Close()
	// Out of order, as records arrive from many workers.
	for i := len(bad.Ops) - 1; i >= 0; i-- {
		w2.Observe(bad.Ops[i])
	}
	select {
	case <-w2.Found():
	case <-time.After(60 * time.Second):
		t.Fatal("the watcher did not find the injected read")
	}
	a := w2.Violation()
	if a == nil || len(a.Ops) == 0 || a.Ops[0].Index != injected {
		t.Fatalf("violation %+v, want one naming record #%d", a, injected)
	}
	var _ checkers.Online = c
}
