package bank

import (
	"strings"
	"testing"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/history"
)

// Histories outside the bank contract are unknown, never valid: before,
// each of these was judged valid.
func TestOutsideTheContractIsUnknown(t *testing.T) {
	t12 := Transfer{ID: 12, From: 0, To: 1, Amount: 5}
	fin := func(b *builder) {
		b.final(Participant{Name: "p1", Balances: map[int]int64{0: 95, 2: 100}, Committed: []int64{12}},
			Participant{Name: "p2", Balances: map[int]int64{1: 105, 3: 100}, Committed: []int64{12}})
	}
	for name, tc := range map[string]struct {
		build func(b *builder)
		want  string
	}{
		"two final states": {func(b *builder) { b.transfer(1, t12, history.OK); fin(b); fin(b) }, "both final states"},
		"negative amount": {func(b *builder) {
			b.transfer(1, Transfer{ID: 12, From: 1, To: 0, Amount: -5}, history.OK)
			fin(b)
		}, "positive amount"},
		"transfer to itself": {func(b *builder) {
			b.transfer(1, Transfer{ID: 12, From: 0, To: 0, Amount: 5}, history.OK)
			fin(b)
		}, "between two accounts"},
		"transfer after the final state": {func(b *builder) {
			b.transfer(1, t12, history.OK)
			fin(b)
			b.transfer(1, Transfer{ID: 13, From: 2, To: 3, Amount: 1}, history.OK)
		}, "after the final state"},
	} {
		var b builder
		tc.build(&b)
		r := check(t, 4, 100, &b)
		if r.Valid != checkers.Unknown || !strings.Contains(r.Error, tc.want) {
			t.Errorf("%s: %s (%s), want unknown saying %q", name, r.Valid, r.Error, tc.want)
		}
	}
}
