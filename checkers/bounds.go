package checkers

import (
	"context"
	"runtime/metrics"
)

// DefaultMemoryBudget bounds the heap a check may grow to when the caller
// sets none: far inside a CI machine, far above what a decided check needs.
const DefaultMemoryBudget int64 = 2 << 30

type budgetKey struct{}

// WithMemoryBudget returns ctx carrying a bound, in bytes, on the Go heap a
// check may use. A checker whose search would grow past it stops and says
// unknown, naming the bound. Zero or less leaves ctx as it is.
func WithMemoryBudget(ctx context.Context, bytes int64) context.Context {
	if bytes <= 0 {
		return ctx
	}
	return context.WithValue(ctx, budgetKey{}, bytes)
}

// MemoryBudget is ctx's memory budget, DefaultMemoryBudget when it has none.
func MemoryBudget(ctx context.Context) int64 {
	if b, ok := ctx.Value(budgetKey{}).(int64); ok && b > 0 {
		return b
	}
	return DefaultMemoryBudget
}

// HeapBytes is the heap the process holds in live and not yet swept
// objects, read from runtime/metrics without stopping the world.
func HeapBytes() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}

// Progress is one report of a check in progress.
type Progress struct {
	Checker string
	// Done of Total units (partitions, keys) are decided; Ops of TotalOps
	// operations are in decided units.
	Done, Total   int64
	Ops, TotalOps int64
}

type progressKey struct{}

// WithProgress returns ctx carrying f, which checkers call as they decide
// parts of a history (from any goroutine; f must be cheap and safe).
func WithProgress(ctx context.Context, f func(Progress)) context.Context {
	return context.WithValue(ctx, progressKey{}, f)
}

// ReportProgress passes p to ctx's progress function, if any.
func ReportProgress(ctx context.Context, p Progress) {
	if f, ok := ctx.Value(progressKey{}).(func(Progress)); ok && f != nil {
		f(p)
	}
}
