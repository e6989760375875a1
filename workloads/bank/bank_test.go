package bank

import (
	"testing"

	bankcheck "github.com/chaostest/chaos/checkers/bank"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/workloads/gen"
)

// The generator moves money between two different accounts, never reuses a
// transfer id across workers, and plans the same ops for the same seed.
func TestGenerator(t *testing.T) {
	w, err := New(core.Params{"bank-accounts": "3", "bank-max-transfer": "2"})
	if err != nil {
		t.Fatal(err)
	}
	plan := func(seed int64) []string {
		var out []string
		seen := map[int64]bool{}
		for worker := 0; worker < 3; worker++ {
			g := w.Generator(worker)
			c := &gen.Context{Rand: gen.NewRand(seed, "worker", worker), Worker: worker}
			for i := 0; i < 200; i++ {
				op, ok := g.Next(c)
				if !ok {
					t.Fatal("generator ended")
				}
				out = append(out, op.F+string(op.Value))
				if op.F == bankcheck.FRead {
					continue
				}
				var tr bankcheck.Transfer
				if err := op.DecodeValue(&tr); err != nil {
					t.Fatal(err)
				}
				if tr.From == tr.To || tr.From < 0 || tr.To > 2 || tr.Amount < 1 || tr.Amount > 2 || seen[tr.ID] {
					t.Fatalf("bad transfer %+v", tr)
				}
				seen[tr.ID] = true
			}
		}
		return out
	}
	a, b := plan(5), plan(5)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("op %d differs for one seed: %s vs %s", i, a[i], b[i])
		}
	}
	if f := w.Final([]string{"n1", "n2"}); len(f) != 1 || f[0].F != bankcheck.FFinal || f[0].Node != "n1" {
		t.Fatalf("final ops %+v", f)
	}
	cs, err := w.Checkers(&history.Header{Params: map[string]string{"bank-accounts": "3", "bank-balance": "7"}})
	if err != nil || cs[0].(*bankcheck.Checker).Accounts != 3 || cs[0].(*bankcheck.Checker).Balance != 7 {
		t.Fatalf("checkers %v %v", cs, err)
	}
}

func TestBadParams(t *testing.T) {
	for _, p := range []core.Params{{"bank-accounts": "1"}, {"bank-balance": "-1"}, {"bank-max-transfer": "0"}, {"bank-read-weight": "x"}} {
		if _, err := New(p); err == nil {
			t.Fatalf("%v accepted", p)
		}
	}
}
