package txn

import (
	"encoding/json"
	"testing"

	txncheck "github.com/chaostest/chaos/checkers/txn"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/workloads/gen"
)

// Every rw-register write follows a read of its key in the same
// transaction, and values are unique: what the checker's version order
// inference rests on.
func TestRegisterWritesFollowReads(t *testing.T) {
	w, err := NewRegister(core.Params{"txn-keys": "3", "txn-max-ops": "5"})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[[2]int64]bool{}
	writes := 0
	for worker := range 3 {
		g := w.Generator(worker)
		c := &gen.Context{Rand: gen.NewRand(1, "test", worker)}
		for range 200 {
			op, ok := g.Next(c)
			if !ok {
				t.Fatal("generator ended")
			}
			var mops [][3]any
			if err := json.Unmarshal(op.Value, &mops); err != nil {
				t.Fatal(err)
			}
			touched := map[float64]bool{}
			for _, m := range mops {
				k := m[1].(float64)
				switch m[0] {
				case "r":
				case "w":
					if !touched[k] {
						t.Fatalf("write without a read of its key first: %s", op.Value)
					}
					v := [2]int64{int64(k), int64(m[2].(float64))}
					if seen[v] {
						t.Fatalf("value %v written twice", v)
					}
					seen[v] = true
					writes++
				default:
					t.Fatalf("micro-operation %v in rw-register", m[0])
				}
				touched[k] = true
			}
		}
	}
	if writes == 0 {
		t.Fatal("no writes generated")
	}
	cs, err := w.Checkers(&history.Header{Params: map[string]string{"txn-model": "strict-serializable"}})
	if err != nil || len(cs) != 1 {
		t.Fatal(cs, err)
	}
	if _, ok := cs[0].(*txncheck.Checker); !ok {
		t.Fatalf("checker %T", cs[0])
	}
}
