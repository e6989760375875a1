package lock_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/workloads/lock"
)

// TestGateHoldsAcquiresUntilOpened: a held client sends nothing until its
// gate opens, then acquires; other clients are not held; a cancelled gate
// fails the held acquire with nothing sent, and leaves no gate behind for
// the next acquire.
func TestGateHoldsAcquiresUntilOpened(t *testing.T) {
	held, fence := false, int64(0)
	board := lock.NewPauses()
	c0 := lock.NewClient(fakeLocker{&held, &fence}, "lock", "c0", lock.WithPauses(board))
	c1 := lock.NewClient(fakeLocker{&held, &fence}, "lock", "c1", lock.WithPauses(board))
	ctx := context.Background()
	acquire := history.Op{F: "acquire", Key: "k", Value: history.JSON(lock.AcquireArgs{})}

	g := board.Hold("c1")
	done := make(chan history.Op, 1)
	go func() { done <- c1.Invoke(ctx, acquire) }()
	select {
	case r := <-done:
		t.Fatalf("held acquire completed before the gate opened: %v", r)
	case <-time.After(50 * time.Millisecond):
	}
	if held {
		t.Fatal("the held client sent its acquire")
	}
	if r := c0.Invoke(ctx, history.Op{F: "acquire", Key: "k2", Value: history.JSON(lock.AcquireArgs{})}); r.Type != history.OK {
		t.Fatalf("c0 is not held but its acquire was %v", r)
	}
	held = false
	g.Open()
	if r := <-done; r.Type != history.OK {
		t.Fatalf("acquire after the gate opened: %v", r)
	}

	held = false
	g = board.Hold("c1")
	go func() { done <- c1.Invoke(ctx, acquire) }()
	time.Sleep(20 * time.Millisecond)
	g.Cancel("step 1 never came")
	r := <-done
	if r.Type != history.Fail || !strings.Contains(r.Error, "step 1 never came") || held {
		t.Fatalf("acquire of a cancelled gate: %v (sent: %v), want a fail that names why and sent nothing", r, held)
	}
	if r := c1.Invoke(ctx, acquire); r.Type != history.OK {
		t.Fatalf("acquire after a cancelled gate: %v, want it to go", r)
	}

	g = board.Hold("c1")
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	held = false
	if r := c1.Invoke(cctx, acquire); r.Type != history.Fail || held {
		t.Fatalf("held acquire whose context ended: %v, want fail with nothing sent", r)
	}
	g.Open()
}
