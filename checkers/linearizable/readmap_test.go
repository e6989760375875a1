package linearizable

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/chaostest/chaos/checkers"
)

// randomUniqueHistory is a small cas-register history whose written values
// are unique, as the register workload writes them: the read-mapping check's
// domain. Reads and cas expectations pick among the values written (by any
// outcome), null, and a value nobody wrote.
func randomUniqueHistory(r *rand.Rand, maxOps int, cas bool) []bop {
	n := 1 + r.IntN(maxOps)
	ops := make([]bop, n)
	next := int64(1)
	var written []int64
	pick := func() int64 {
		switch x := r.IntN(10); {
		case x == 0:
			return 99 // never written
		case x == 1 || len(written) == 0:
			return bnull
		default:
			return written[r.IntN(len(written))]
		}
	}
	for i := range ops {
		call := r.Int64N(3 * int64(n))
		o := bop{call: call, ret: call + r.Int64N(2*int64(n)), out: bnull}
		k := r.IntN(3)
		if !cas && k == 2 {
			k = r.IntN(2)
		}
		switch k {
		case 0:
			o.f = "read"
			o.out = pick()
		case 1:
			o.f, o.a = "write", next
			written = append(written, next)
			next++
		default:
			o.f, o.b = "cas", next
			o.a = pick()
			if o.a == bnull {
				o.a = 99
				if len(written) > 0 {
					o.a = written[r.IntN(len(written))]
				}
			}
			written = append(written, next)
			next++
		}
		o.typ = randomOutcome(r)
		ops[i] = o
	}
	return ops
}

// The read-mapping check against the brute-force oracle: wherever it
// decides it must agree, and on unique-valued histories it must decide
// nearly always (porcupine is only the fallback).
func TestReadMappingAgreesWithOracle(t *testing.T) {
	for _, cas := range []bool{false, true} {
		model := Register()
		if cas {
			model = CASRegister()
		}
		c := New(model)
		verdicts := map[checkers.Validity]int{}
		decided, tried := 0, 0
		for seed := range uint64(6000) {
			ops := randomUniqueHistory(rand.New(rand.NewPCG(seed, 23)), 8, cas)
			want := expect(ops, oracle(ops))
			r := c.Check(context.Background(), toFile(ops))
			if r.Valid != want {
				t.Fatalf("cas=%v seed %d: checker %s, oracle %s\nops %+v\n%s", cas, seed, r.Valid, want, ops, r.Summary)
			}
			verdicts[want]++
			if want != checkers.Unknown {
				tried++
				if r.Counts["read_mapped_partitions"] == 1 {
					decided++
				}
			}
			if want == checkers.Invalid && (len(r.Anomalies) != 1 || len(r.Anomalies[0].Ops) == 0) {
				t.Fatalf("cas=%v seed %d: invalid without a witness naming operations: %+v", cas, seed, r)
			}
		}
		if verdicts[checkers.Valid] < 600 || verdicts[checkers.Invalid] < 600 {
			t.Fatalf("cas=%v: the random histories are lopsided: %v", cas, verdicts)
		}
		if decided*100 < tried*95 {
			t.Fatalf("cas=%v: the read-mapping check decided only %d of %d histories", cas, decided, tried)
		}
		t.Logf("cas=%v: %v, read-mapping decided %d of %d", cas, verdicts, decided, tried)
	}
}

func FuzzReadMappingAgreesWithOracle(f *testing.F) {
	f.Add(uint64(1), true)
	f.Add(uint64(7), false)
	f.Fuzz(func(t *testing.T, seed uint64, cas bool) {
		model := Register()
		if cas {
			model = CASRegister()
		}
		ops := randomUniqueHistory(rand.New(rand.NewPCG(seed, 23)), 9, cas)
		want := expect(ops, oracle(ops))
		if r := New(model).Check(context.Background(), toFile(ops)); r.Valid != want {
			t.Fatalf("checker %s, oracle %s: %+v", r.Valid, want, ops)
		}
	})
}

// Record order decides real time: a completion recorded before an
// invocation precedes it, even when both carry the same time, and a history
// whose times run backwards is judged by its record order.
func TestRecordOrderDecides(t *testing.T) {
	for _, readMap := range []bool{true, false} {
		tie := (&hb{}).inv(0, "write", "", 1).ok(0, "write", "", 1).inv(1, "read", "", nil).ok(1, "read", "", nil)
		tie.ops[1].Time, tie.ops[2].Time, tie.ops[3].Time = 100, 100, 100
		if r := check(t, Register(), tie.file(), WithReadMapping(readMap)); r.Valid != checkers.Invalid {
			t.Errorf("readMap=%v: a read invoked after a write completed (same time) read null: %s %s", readMap, r.Valid, r.Summary)
		}
		back := (&hb{}).inv(0, "write", "", 1).ok(0, "write", "", 1).inv(1, "read", "", nil).ok(1, "read", "", nil)
		back.ops[0].Time, back.ops[1].Time, back.ops[2].Time, back.ops[3].Time = 100, 110, 50, 60
		if r := check(t, Register(), back.file(), WithReadMapping(readMap)); r.Valid != checkers.Invalid {
			t.Errorf("readMap=%v: times running backwards were trusted over record order: %s %s", readMap, r.Valid, r.Summary)
		}
	}
}

func TestReadMappingWitness(t *testing.T) {
	// A stale read: write 1, write 2 (both done), then a read of 1.
	h := (&hb{}).inv(0, "write", "x", 1).ok(0, "write", "x", 1).fault("kill", "n2").
		inv(0, "write", "x", 2).ok(0, "write", "x", 2).inv(1, "read", "x", nil).ok(1, "read", "x", 1)
	dir := t.TempDir()
	hf := h.file()
	hf.ArtifactDir = dir
	r := check(t, KV(CASRegister()), hf)
	if r.Valid != checkers.Invalid || len(r.Anomalies) != 1 || r.Counts["read_mapped_partitions"] != 1 {
		t.Fatalf("got %+v", r)
	}
	a := r.Anomalies[0]
	if !strings.Contains(a.Message, `key "x"`) || !strings.Contains(a.Message, "read() -> 1") || !strings.Contains(a.Message, "write(2)") {
		t.Fatalf("message %q", a.Message)
	}
	if a.Fault == nil || a.Fault.F != "kill" {
		t.Fatalf("fault %+v", a.Fault)
	}
	w := a.Data.(*Witness)
	if w.Visualization == "" {
		t.Fatalf("no visualization: %s", w.VisualizationNote)
	}
	// A read of a value never written names that read.
	h = (&hb{}).inv(0, "write", "x", 1).ok(0, "write", "x", 1).inv(1, "read", "x", nil).ok(1, "read", "x", 7)
	r = check(t, KV(CASRegister()), h.file())
	if r.Valid != checkers.Invalid || len(r.Anomalies[0].Ops) != 1 || r.Anomalies[0].Ops[0].Index != 3 {
		t.Fatalf("got %+v", r.Anomalies)
	}
}
