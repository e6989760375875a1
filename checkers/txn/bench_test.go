package txn

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/history"
)

// serialListAppend records n list-append transactions of a strictly
// serializable store: ten processes, each transaction run atomically at its
// completion, four micro-operations over a window of 20 keys, a key retired
// after 64 appends (as Elle's generator does, so reads stay short).
func serialListAppend(n int, seed uint64) []history.Op {
	rng := rand.New(rand.NewPCG(seed, 1))
	const procs, window, perKey = 10, 20, 64
	keys := make([]int, window)
	for i := range keys {
		keys[i] = i
	}
	nextKey := window
	state := map[int][]int64{}
	appends := map[int]int{}
	var next int64
	ops := make([]history.Op, 0, 2*n)
	type open struct {
		mops [][3]any
		live bool
	}
	opened := make([]open, procs)
	rec := func(op history.Op) {
		op.Index = int64(len(ops))
		op.Time = op.Index * 1000
		ops = append(ops, op)
	}
	started, done := 0, 0
	for done < n {
		p := rng.IntN(procs)
		o := &opened[p]
		if !o.live {
			if started == n {
				continue
			}
			started++
			o.mops = o.mops[:0]
			for range 4 {
				slot := rng.IntN(window)
				k := keys[slot]
				if rng.IntN(2) == 0 {
					next++
					o.mops = append(o.mops, [3]any{"append", k, next})
					appends[k]++
					if appends[k] >= perKey {
						keys[slot] = nextKey
						nextKey++
					}
				} else {
					o.mops = append(o.mops, [3]any{"r", k, nil})
				}
			}
			o.live = true
			rec(history.Op{Process: p, Type: history.Invoke, F: F, Value: encodeMops(o.mops, false)})
			continue
		}
		for i := range o.mops {
			m := &o.mops[i]
			k := m[1].(int)
			if m[0] == "append" {
				state[k] = append(state[k], m[2].(int64))
			} else {
				m[2] = state[k]
			}
		}
		rec(history.Op{Process: p, Type: history.OK, F: F, Value: encodeMops(o.mops, true)})
		o.live = false
		done++
	}
	return ops
}

func encodeMops(mops [][3]any, withReads bool) []byte {
	b := []byte{'['}
	for i, m := range mops {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `["`...)
		b = append(b, m[0].(string)...)
		b = append(b, `","k`...)
		b = strconv.AppendInt(b, int64(m[1].(int)), 10)
		b = append(b, `",`...)
		switch v := m[2].(type) {
		case int64:
			b = strconv.AppendInt(b, v, 10)
		case []int64:
			if !withReads {
				b = append(b, "null"...)
				break
			}
			b = append(b, '[')
			for j, x := range v {
				if j > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendInt(b, x, 10)
			}
			b = append(b, ']')
		default:
			if withReads {
				b = append(b, "[]"...)
			} else {
				b = append(b, "null"...)
			}
		}
		b = append(b, ']')
	}
	return append(b, ']')
}

func TestSerialGeneratorIsValid(t *testing.T) {
	h := &history.File{Ops: serialListAppend(5000, 3)}
	r := New(ListAppend, WithModel(StrictSerializable)).Check(context.Background(), h)
	if r.Valid != checkers.Valid {
		t.Fatalf("%v %s %s", r.Valid, r.Summary, r.Error)
	}
}

// BenchmarkListAppend checks strictly serializable list-append histories of
// growing size; txns/s is the figure to set beside Elle's published rates.
func BenchmarkListAppend(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		ops := serialListAppend(n, 1)
		h := &history.File{Ops: ops}
		b.Run(fmt.Sprintf("txns=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			// The generator's garbage is not the checker's to collect.
			runtime.GC()
			b.ResetTimer()
			// CPU time as well as wall time: on a busy machine the wall
			// clock mostly measures the other work.
			cpu0 := cpuTime()
			for b.Loop() {
				r := New(ListAppend, WithModel(StrictSerializable)).Check(context.Background(), h)
				if r.Valid != checkers.Valid {
					b.Fatalf("%v %s", r.Valid, r.Summary)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "txns/s")
			b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
		})
	}
}

// cpuTime is the process's user and system time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
