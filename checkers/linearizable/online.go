package linearizable

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/history"
)

var _ checkers.Online = (*Checker)(nil)

// onlineInterval is the least time between two online checks; a check that
// took long spaces the next ones further (five times its duration), so the
// watcher never takes more than a fraction of a core from the run.
const onlineInterval = time.Second

// Watch checks the history as it is recorded. Every so often it judges the
// records so far with the read-mapping check only (porcupine's search is
// never run online), operations still open counting as indeterminate. A
// prefix that cannot be linearized proves the whole history cannot, so the
// first violation found is final; the offline check still judges the whole
// history after the run.
func (c *Checker) Watch(ctx context.Context, h *history.Header) checkers.Watcher {
	ctx, cancel := context.WithCancel(ctx)
	w := &watcher{c: c, header: *h, found: make(chan struct{}), wake: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	go w.loop(ctx)
	return w
}

type watcher struct {
	c      *Checker
	header history.Header
	cancel context.CancelFunc
	done   chan struct{}
	wake   chan struct{}

	mu        sync.Mutex
	ops       []history.Op
	violation *checkers.Anomaly
	found     chan struct{}
	foundOnce sync.Once
	checks    atomic.Int64 // prefixes judged, for tests
}

func (w *watcher) Observe(op history.Op) {
	w.mu.Lock()
	w.ops = append(w.ops, op)
	w.mu.Unlock()
}

func (w *watcher) Violation() *checkers.Anomaly {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.violation
}

func (w *watcher) Found() <-chan struct{} { return w.found }

func (w *watcher) Close() {
	w.cancel()
	<-w.done
}

func (w *watcher) loop(ctx context.Context) {
	defer close(w.done)
	interval := onlineInterval
	checked := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
		w.mu.Lock()
		n := len(w.ops)
		ops := slices.Clone(w.ops)
		w.mu.Unlock()
		if n == checked {
			continue
		}
		checked = n
		ops = contiguous(ops)
		start := time.Now()
		a := w.c.checkPrefix(ctx, &w.header, ops)
		w.checks.Add(1)
		if a != nil {
			w.mu.Lock()
			w.violation = a
			w.mu.Unlock()
			w.foundOnce.Do(func() { close(w.found) })
			return
		}
		interval = max(onlineInterval, 5*time.Since(start))
	}
}

// checkPrefix judges the records so far with the read-mapping check alone
// and returns the first anomaly it proves, nil when it proves none.
func (c *Checker) checkPrefix(ctx context.Context, h *history.Header, ops []history.Op) *checkers.Anomaly {
	if !c.readMap {
		return nil
	}
	hf := &history.File{Header: *h, Ops: ops}
	parts, _, err := c.build(hf)
	if err != nil {
		return nil
	}
	var faults *history.FaultIndex
	for _, p := range parts {
		if ctx.Err() != nil {
			return nil
		}
		if v, wit := readMapping(p.ops); v == rmIllegal {
			p.result, p.byReadMap, p.rm = porcupine.Illegal, true, wit
			if faults == nil {
				faults = history.NewFaultIndex(ops)
			}
			noViz := *c
			noViz.vizBytes = 0
			a, _ := noViz.explain(ctx, hf, p, faults)
			return &a
		}
	}
	return nil
}

// contiguous orders records observed from many goroutines by index and
// keeps the prefix without a gap: a record appended but not yet observed
// cuts the prefix there, so what is judged is exactly the history's first
// records.
func contiguous(ops []history.Op) []history.Op {
	slices.SortFunc(ops, func(a, b history.Op) int { return cmpInt64(a.Index, b.Index) })
	for i := range ops {
		if ops[i].Index != int64(i) {
			return ops[:i]
		}
	}
	return ops
}
