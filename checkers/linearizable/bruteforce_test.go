package linearizable

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/history"
)

// An independent oracle for small cas-register histories: it searches every
// order directly, with Knossos' meaning of outcomes (fail did not happen;
// info may have happened at any moment after its invocation, or not at all),
// without the "return at the end of the history" construction the checker
// relies on. The checker must agree with it on every history.

type bop struct {
	f         string // read, write, cas
	a, b      int64  // write a; cas a -> b
	out       int64  // read output; -1 for null
	typ       history.Type
	call, ret int64
	key       string // kv: "a" or "b"; empty for single-register models
}

const bnull = -1

func oracle(ops []bop) bool {
	return linearizes(ops, int64(bnull), func(state int64, o bop) (int64, bool) {
		switch o.f {
		case "read":
			return state, o.typ == history.Info || o.out == state
		case "write":
			return o.a, true
		case "cas":
			if state == o.a {
				return o.b, true
			}
			return state, o.typ == history.Info // an info cas that did not match changed nothing
		}
		return state, false
	})
}

// linearizes searches every order of ops directly: a fail did not happen,
// an info operation happened at some moment after its invocation or not at
// all, and every ok one happened, after each ok operation that returned
// before it was invoked. step applies one operation to the state and says
// whether the model allows it there.
func linearizes[S any](ops []bop, init S, step func(S, bop) (S, bool)) bool {
	placed := make([]bool, len(ops))
	var search func(state S, left int) bool
	search = func(state S, left int) bool {
		if left == 0 {
			return true
		}
		for i, o := range ops {
			if placed[i] || o.typ == history.Fail {
				continue
			}
			// Every ok operation that returned before o was invoked
			// must come first.
			ready := true
			for j, p := range ops {
				if !placed[j] && j != i && p.typ == history.OK && p.ret < o.call {
					ready = false
					break
				}
			}
			if !ready {
				continue
			}
			next, ok := step(state, o)
			if !ok {
				continue
			}
			placed[i] = true
			rest := left
			if o.typ == history.OK {
				rest--
			}
			found := search(next, rest)
			placed[i] = false
			if found {
				return true
			}
		}
		return false
	}
	oks := 0
	for _, o := range ops {
		if o.typ == history.OK {
			oks++
		}
	}
	return search(init, oks)
}

// expect is the verdict the checker owes: the oracle's, except that a
// history in which nothing completed ok says nothing, so it is unknown.
func expect(ops []bop, linearizable bool) checkers.Validity {
	for _, o := range ops {
		if o.typ == history.OK {
			if linearizable {
				return checkers.Valid
			}
			return checkers.Invalid
		}
	}
	return checkers.Unknown
}

func randomHistory(r *rand.Rand) []bop {
	n := 1 + r.IntN(6)
	ops := make([]bop, n)
	for i := range ops {
		call := r.Int64N(20)
		o := bop{call: call, ret: call + r.Int64N(8), out: bnull}
		switch r.IntN(3) {
		case 0:
			o.f = "read"
			if v := r.IntN(4); v > 0 {
				o.out = int64(v)
			}
		case 1:
			o.f, o.a = "write", 1+r.Int64N(3)
		default:
			o.f, o.a, o.b = "cas", 1+r.Int64N(3), 1+r.Int64N(3)
		}
		o.typ = randomOutcome(r)
		ops[i] = o
	}
	return ops
}

// randomOutcome is an operation's completion: ok six times in ten, info
// twice, fail twice.
func randomOutcome(r *rand.Rand) history.Type {
	switch x := r.IntN(10); {
	case x < 6:
		return history.OK
	case x < 8:
		return history.Info
	}
	return history.Fail
}

// toFile writes ops as a history: operation i is process i.
func toFile(ops []bop) *history.File {
	type ev struct {
		t   int64
		inv bool
		op  history.Op
	}
	var evs []ev
	for i, o := range ops {
		inv := history.Op{Process: i, Type: history.Invoke, F: o.f, Key: o.key}
		done := history.Op{Process: i, Type: o.typ, F: o.f, Key: o.key}
		switch o.f {
		case "write":
			inv.Value, done.Value = history.Int(o.a), history.Int(o.a)
		case "cas":
			inv.Value = history.JSON([]int64{o.a, o.b})
			done.Value = inv.Value
		case "read":
			if o.typ == history.OK && o.out != bnull {
				done.Value = history.Int(o.out)
			}
		}
		evs = append(evs, ev{o.call, true, inv}, ev{o.ret, false, done})
	}
	// Invocations before completions at the same instant: intervals are
	// closed, as porcupine reads them.
	sort.SliceStable(evs, func(i, j int) bool {
		if evs[i].t != evs[j].t {
			return evs[i].t < evs[j].t
		}
		return evs[i].inv && !evs[j].inv
	})
	hf := &history.File{}
	for i, e := range evs {
		e.op.Index, e.op.Time = int64(i), e.t*10
		hf.Ops = append(hf.Ops, e.op)
	}
	return hf
}

// oracleCase is one model's cross-check against its brute-force oracle: a
// generator of small random histories, the oracle, and how the histories
// are written as history files.
type oracleCase struct {
	model  func() Model
	gen    func(seed uint64) []bop
	oracle func([]bop) bool
	file   func([]bop) *history.File
}

// agree judges seed's history with c and the oracle and returns the
// oracle's answer, or an error describing the disagreement.
func (oc oracleCase) agree(c *Checker, seed uint64) (bool, error) {
	ops := oc.gen(seed)
	want := oc.oracle(ops)
	if r := c.Check(context.Background(), oc.file(ops)); r.Valid != expect(ops, want) {
		return want, fmt.Errorf("seed %d: checker %s, oracle linearizable=%v\nops %+v\n%s", seed, r.Valid, want, ops, r.Summary)
	}
	return want, nil
}

// run compares seeds 0 to n-1, and needs at least min histories each way:
// agreement on a one-sided sample means little.
func (oc oracleCase) run(t *testing.T, n uint64, min int) {
	t.Helper()
	c := New(oc.model())
	counts := map[bool]int{}
	for seed := range n {
		want, err := oc.agree(c, seed)
		if err != nil {
			t.Fatal(err)
		}
		counts[want]++
	}
	if counts[true] < min || counts[false] < min {
		t.Fatalf("the random histories are lopsided: %v", counts)
	}
	t.Logf("%d histories agree: linearizable %v", n, counts)
}

// fuzz compares the seeds the fuzzer picks, starting from corpus.
func (oc oracleCase) fuzz(f *testing.F, corpus ...uint64) {
	for _, seed := range corpus {
		f.Add(seed)
	}
	c := New(oc.model())
	f.Fuzz(func(t *testing.T, seed uint64) {
		if _, err := oc.agree(c, seed); err != nil {
			t.Fatal(err)
		}
	})
}

var casCase = oracleCase{model: CASRegister, oracle: oracle, file: toFile,
	gen: func(seed uint64) []bop { return randomHistory(rand.New(rand.NewPCG(seed, 7))) }}

func TestAgreesWithOracle(t *testing.T) { casCase.run(t, 4000, 400) }

func FuzzAgreesWithOracle(f *testing.F) { casCase.fuzz(f, 1, 99) }

// The same cross-check for the mutex model: an acquire needs a free lock,
// a release a held one; an info operation either happened at some moment
// after its invocation (and was legal then) or not at all.
func mutexOracle(ops []bop) bool {
	return linearizes(ops, false, func(held bool, o bop) (bool, bool) {
		acquire := o.f == "acquire"
		return acquire, acquire != held
	})
}

var mutexCase = oracleCase{model: Mutex, oracle: mutexOracle, file: toFile,
	gen: func(seed uint64) []bop {
		r := rand.New(rand.NewPCG(seed, 11))
		ops := randomHistory(r)
		for i := range ops {
			ops[i].f = [2]string{"acquire", "release"}[r.IntN(2)]
		}
		return ops
	}}

func TestMutexAgreesWithOracle(t *testing.T) { mutexCase.run(t, 3000, 300) }
