package linearizable

import (
	"math/rand/v2"
	"testing"

	"github.com/chaostest/chaos/history"
)

// The kv model is the per-key composition of cas registers (each key its
// own partition). This oracle does not compose: it searches every order of
// the whole history over one state holding both keys, so a flaw in the
// partitioning (a key lost, two keys merged, an operation in the wrong
// partition) shows as a disagreement.
func kvOracle(ops []bop) bool {
	return linearizes(ops, [2]int64{bnull, bnull}, func(st [2]int64, o bop) ([2]int64, bool) {
		k := 0
		if o.key == "b" {
			k = 1
		}
		switch o.f {
		case "read":
			return st, o.typ == history.Info || o.out == st[k]
		case "write":
			st[k] = o.a
			return st, true
		case "cas":
			if st[k] == o.a {
				st[k] = o.b
				return st, true
			}
			return st, o.typ == history.Info
		}
		return st, false
	})
}

var kvCase = oracleCase{model: func() Model { return KV(CASRegister()) }, oracle: kvOracle, file: toFile,
	gen: func(seed uint64) []bop {
		r := rand.New(rand.NewPCG(seed, 13))
		var ops []bop
		// Up to eight operations over two keys: the whole-history search
		// stays small, and each key still gets several.
		for range 1 + r.IntN(4) {
			ops = append(ops, randomHistory(r)...)
		}
		if len(ops) > 8 {
			ops = ops[:8]
		}
		for i := range ops {
			ops[i].key = [2]string{"a", "b"}[r.IntN(2)]
		}
		return ops
	}}

func TestKVAgreesWithWholeHistoryOracle(t *testing.T) { kvCase.run(t, 3000, 300) }

func FuzzKVAgreesWithWholeHistoryOracle(f *testing.F) { kvCase.fuzz(f, 3, 42) }
