package core

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/chaostest/chaos/checkers"
)

// checkContext is the context the run's checkers get: not cancelled with the
// run (a run cut short is still judged), bounded in memory by
// cfg.CheckMemory, and reporting progress (partitions decided, operations in
// them) to cfg.Progress at most once per ProgressInterval.
func checkContext(ctx context.Context, cfg Config) context.Context {
	ctx = checkers.WithMemoryBudget(context.WithoutCancel(ctx), cfg.CheckMemory)
	if cfg.Progress == nil {
		return ctx
	}
	var mu sync.Mutex
	var last time.Time
	start := time.Now()
	return checkers.WithProgress(ctx, func(p checkers.Progress) {
		mu.Lock()
		defer mu.Unlock()
		if now := time.Now(); now.Sub(last) >= cfg.ProgressInterval || p.Done == p.Total {
			last = now
			fmt.Fprintf(cfg.Progress, "[check %5.1fs] %s: %d/%d decided, %d/%d operations\n",
				now.Sub(start).Seconds(), p.Checker, p.Done, p.Total, p.Ops, p.TotalOps)
		}
	})
}
