package linearizable

import (
	"math/rand/v2"
	"testing"

	"github.com/chaostest/chaos/history"
)

// The cross-check for the set model. The oracle's set is a bit mask of the
// elements 1 to 3: an add puts its element in (adding one already there
// changes nothing), an ok read returns exactly the set; a fail did not
// happen, an info add happened at some moment after its invocation or not
// at all, and an info read says nothing.
func setOracle(ops []bop) bool {
	return linearizes(ops, int64(0), func(set int64, o bop) (int64, bool) {
		if o.f == "add" {
			return set | 1<<o.a, true
		}
		return set, o.typ != history.OK || o.out == set
	})
}

// randomSetHistory is randomHistory's shape with adds of 1 to 3 and reads
// of any subset of them (out is the subset's bit mask).
func randomSetHistory(r *rand.Rand) []bop {
	ops := randomHistory(r)
	for i := range ops {
		if r.IntN(2) == 0 {
			ops[i].f, ops[i].a = "add", 1+r.Int64N(3)
		} else {
			ops[i].f, ops[i].out = "read", r.Int64N(8)<<1
		}
	}
	return ops
}

// toSetFile is toFile with the set model's values: an add's element, an ok
// read's elements as a list.
func toSetFile(ops []bop) *history.File {
	hf := toFile(ops)
	for j := range hf.Ops {
		op := &hf.Ops[j]
		o := ops[op.Process]
		op.Value = nil
		switch {
		case o.f == "add":
			op.Value = history.Int(o.a)
		case op.Type == history.OK:
			elems := []int64{}
			for v := int64(1); v <= 3; v++ {
				if o.out&(1<<v) != 0 {
					elems = append(elems, v)
				}
			}
			op.Value = history.JSON(elems)
		}
	}
	return hf
}

var setCase = oracleCase{model: Set, oracle: setOracle, file: toSetFile,
	gen: func(seed uint64) []bop { return randomSetHistory(rand.New(rand.NewPCG(seed, 13))) }}

func TestSetAgreesWithOracle(t *testing.T) { setCase.run(t, 3000, 300) }

func FuzzSetAgreesWithOracle(f *testing.F) { setCase.fuzz(f, 1, 42) }
