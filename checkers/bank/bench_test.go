package bank

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/history"
)

// benchHistory is n transfers between 8 accounts on 2 participants, every
// one committed on both, with a read of all accounts after every tenth.
func benchHistory(n int) *history.File {
	r := rand.New(rand.NewPCG(1, 2))
	var b builder
	bal := make([]int64, 8)
	for i := range bal {
		bal[i] = 100
	}
	ps := []Participant{{Name: "p1", Balances: map[int]int64{}}, {Name: "p2", Balances: map[int]int64{}}}
	for i := 0; i < n; i++ {
		from := r.IntN(8)
		to := (from + 1 + r.IntN(7)) % 8
		t := Transfer{ID: int64(i + 1), From: from, To: to, Amount: int64(1 + r.IntN(5))}
		b.transfer(1+i%10, t, history.OK)
		bal[from] -= t.Amount
		bal[to] += t.Amount
		for _, p := range []int{from % 2, to % 2} {
			if len(ps[p].Committed) == 0 || ps[p].Committed[len(ps[p].Committed)-1] != t.ID {
				ps[p].Committed = append(ps[p].Committed, t.ID)
			}
		}
		if i%10 == 0 {
			m := map[int]int64{}
			for a, v := range bal {
				m[a] = v
			}
			b.read(20, m, history.OK)
		}
	}
	for a, v := range bal {
		ps[a%2].Balances[a] = v
	}
	b.final(ps...)
	return b.file()
}

func BenchmarkCheck(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		h := benchHistory(n)
		runtime.GC()
		b.Run(fmt.Sprintf("transfers=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				r := New(8, 100).Check(context.Background(), h)
				if r.Valid != checkers.Valid {
					b.Fatalf("%s %s", r.Valid, r.Error)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "transfers/s")
		})
	}
}
