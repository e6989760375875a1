package lock_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/checkers/lock"
	"github.com/chaostest/chaos/history"
)

// lockHistory builds a valid history of n lock operations by 10 processes
// taking turns: per turn an acquire, a refused release by another process and
// a release.
func lockHistory(n int) *history.File {
	ops := make([]history.Op, 0, 2*n)
	add := func(t int64, p int, typ history.Type, f string, v []byte) {
		ops = append(ops, history.Op{Index: int64(len(ops)), Process: p, Type: typ, F: f, Key: "l", Time: t, Node: "n1", Value: v})
	}
	t := int64(0)
	for i := 0; i < n/3; i++ {
		p := i % 10
		t += int64(time.Microsecond)
		add(t, p, history.Invoke, "acquire", history.JSON(lock.AcquireArgs{TTL: int64(time.Second)}))
		q := (p + 1) % 10
		add(t+1, q, history.Invoke, "release", nil)
		add(t+2, q, history.Fail, "release", nil)
		t += int64(time.Microsecond)
		fence := int64(i)
		add(t, p, history.OK, "acquire", history.JSON(lock.Grant{Token: "tok", Fence: &fence, Validity: int64(time.Second),
			Nodes: []string{"n1", "n2", "n3"}, Client: "c1"}))
		t += int64(time.Microsecond)
		add(t, p, history.Invoke, "release", nil)
		add(t+1, p, history.OK, "release", history.JSON(lock.Release{Token: "tok"}))
		t += 2
	}
	return &history.File{Header: history.Header{Workload: "lock"}, Ops: ops}
}

// BenchmarkCheck1M checks one million lock operations.
func BenchmarkCheck1M(b *testing.B) {
	h := lockHistory(1_000_000)
	c := lock.New()
	var before, after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	n := 0
	for b.Loop() {
		n++
		if r := c.Check(context.Background(), h); r.Valid != checkers.Valid {
			b.Fatalf("got %v: %s", r.Valid, r.Summary)
		}
	}
	// On a shared machine wall time says little; CPU time spent (the
	// collector's included) is the figure to compare.
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	b.ReportMetric(float64(cpu)/float64(n), "cpu-ns/op")
}
