package linearizable

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/history"
)

// peakHeap samples the heap while f runs and returns the largest sample.
func peakHeap(f func()) int64 {
	var peak atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			if h := checkers.HeapBytes(); h > peak.Load() {
				peak.Store(h)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	f()
	close(stop)
	<-done
	return peak.Load()
}

// benchSideBySide checks hf with the default checker and with porcupine
// alone (read-mapping off) under a time cap and a memory budget, and
// reports each one's time, peak heap and verdict.
func benchSideBySide(b *testing.B, hf *history.File, porcupineToo bool) {
	run := func(b *testing.B, opts ...Option) {
		var r checkers.Result
		var peak int64
		for b.Loop() {
			peak = max(peak, peakHeap(func() { r = New(KV(CASRegister()), opts...).Check(context.Background(), hf) }))
		}
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(r.Counts["read_mapped_partitions"]), "read-mapped")
		b.Logf("%s: %s %s", r.Valid, r.Summary, r.Error)
	}
	b.Run("read-mapping", func(b *testing.B) { run(b) })
	if porcupineToo {
		cap := 60 * time.Second
		if s := os.Getenv("CHAOS_BENCH_PORCUPINE_CAP"); s != "" {
			if d, err := time.ParseDuration(s); err == nil {
				cap = d
			}
		}
		b.Run("porcupine", func(b *testing.B) {
			run(b, WithReadMapping(false), WithTimeout(cap), WithMemoryBudget(4<<30))
		})
	}
}

// BenchmarkIssueRun is the shape of the run issue 16 recorded (one key, 10
// workers, 18,502 operations, 4% info, a third failing), simulated, beside
// porcupine on the same operations (capped at 60 s and 4 GiB; set
// CHAOS_BENCH_PORCUPINE_CAP to change the time).
//
//	go test -run XXX -bench IssueRun -benchtime 1x ./checkers/linearizable
func BenchmarkIssueRun(b *testing.B) {
	benchSideBySide(b, registerRun(11, 18502, 1, 10, 4), os.Getenv("CHAOS_BENCH_PORCUPINE") != "")
}

// BenchmarkMillion: 1,000,000 operations over 10 keys, 5% info.
//
//	go test -run XXX -bench Million -benchtime 1x ./checkers/linearizable
func BenchmarkMillion(b *testing.B) {
	benchSideBySide(b, registerRun(1, 1_000_000, 10, 10, 5), os.Getenv("CHAOS_BENCH_PORCUPINE") != "")
}

// The simulated runs are linearizable and within the read-mapping check's
// reach; with one anomaly injected they are not.
func TestRegisterRunDecided(t *testing.T) {
	hf := registerRun(11, 4000, 2, 10, 4)
	r := New(KV(CASRegister())).Check(context.Background(), hf)
	if r.Valid != checkers.Valid || r.Counts["read_mapped_partitions"] != 2 || r.Counts["info"] == 0 || r.Counts["fail"] == 0 {
		t.Fatalf("%s: %s %v", r.Valid, r.Summary, r.Counts)
	}
}

// TestWriteBenchHistories writes the simulated histories as runs' history
// files, for measuring `chaos check` on them, when CHAOS_BENCH_HISTORIES
// names a directory:
//
//	issue.jsonl    the issue's run, simulated (read-mapping decides it)
//	million.jsonl  1,000,000 operations over 10 keys, 5% info
//	hard.jsonl     values written many times over, so only porcupine can
//	               search it, and it cannot decide in any reasonable time
func TestWriteBenchHistories(t *testing.T) {
	dir := os.Getenv("CHAOS_BENCH_HISTORIES")
	if dir == "" {
		t.Skip("set CHAOS_BENCH_HISTORIES=DIR to write the benchmark histories")
	}
	write := func(name string, hf *history.File, keys int) {
		h := history.Header{Format: history.Format, Target: "refkv", Workload: "register", Nodes: []string{"n1"},
			Start: time.Unix(0, 0).UTC(), Params: map[string]string{"register-keys": strconv.Itoa(keys), "register-cas": "true"}}
		w, err := history.Create(filepath.Join(dir, name), h)
		if err != nil {
			t.Fatal(err)
		}
		for _, op := range hf.Ops {
			if _, err := w.Append(op); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	write("issue.jsonl", registerRun(11, 18502, 1, 10, 4), 1)
	write("million.jsonl", registerRun(1, 1_000_000, 10, 10, 5), 10)
	write("hard.jsonl", hardRegisterRun(7, 20000, 10), 1)
}

// hardUnwritten is the value hardRegisterRun's last read returns: the
// written values are all below 5.
const hardUnwritten = 7

// hardRegisterRun is registerRun with every written value taken from a
// handful, so no read names its write, and at the end, after everything
// else has returned, a read of a value nobody wrote: the history is not
// linearizable, and porcupine can say so only after trying every order of
// the operations before it.
func hardRegisterRun(seed uint64, ops, procs int) *history.File {
	hf := registerRun(seed, ops, 1, procs, 4)
	for i := range hf.Ops {
		op := &hf.Ops[i]
		switch op.F {
		case "write", "read":
			if n, ok := op.ValueInt(); ok {
				op.Value = history.Int(n % 5)
			}
		case "cas":
			var ab []int64
			if op.DecodeValue(&ab) == nil && len(ab) == 2 {
				op.Value = history.JSON([]int64{ab[0] % 5, ab[1] % 5})
			}
		}
	}
	last := hf.Ops[len(hf.Ops)-1]
	read := history.Op{Process: 1 << 20, F: "read", Key: last.Key, Node: last.Node}
	inv, done := read, read
	inv.Type, inv.Index, inv.Time = history.Invoke, last.Index+1, last.Time+1000
	done.Type, done.Index, done.Time, done.Value = history.OK, last.Index+2, last.Time+2000, history.Int(hardUnwritten)
	hf.Ops = append(hf.Ops, inv, done)
	return hf
}

// TestHardRunIsLeftToPorcupineAndNeverValid: the read-mapping check cannot
// take the hard history (its values repeat), and porcupine, cut short, says
// unknown, never valid.
func TestHardRunIsLeftToPorcupineAndNeverValid(t *testing.T) {
	hf := hardRegisterRun(7, 2000, 10)
	r := New(KV(CASRegister()), WithTimeout(200*time.Millisecond)).Check(context.Background(), hf)
	if r.Valid != checkers.Unknown || r.Counts["read_mapped_partitions"] != 0 {
		t.Fatalf("hard history: %s, %d read-mapped (%s); want unknown from porcupine", r.Valid, r.Counts["read_mapped_partitions"], r.Summary)
	}
}

// BenchmarkHistoryFile checks the history.jsonl CHAOS_BENCH_HISTORY names
// (a recorded run), beside porcupine when CHAOS_BENCH_PORCUPINE is set.
func BenchmarkHistoryFile(b *testing.B) {
	path := os.Getenv("CHAOS_BENCH_HISTORY")
	if path == "" {
		b.Skip("set CHAOS_BENCH_HISTORY to a history.jsonl")
	}
	hf, err := history.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	benchSideBySide(b, hf, os.Getenv("CHAOS_BENCH_PORCUPINE") != "")
}
