package txn

import (
	"strings"
	"testing"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/history"
)

// An ok completion only fills in what the reads saw. One that appends
// another value, drops a micro-operation or reads another key describes a
// transaction nobody asked for: unknown. Before, each was judged valid.
func TestCompletionMustBeItsInvocation(t *testing.T) {
	ok := history.OK
	for name, build := range map[string]func(b *hb){
		"another appended value": func(b *hb) {
			b.txn(0, ok, `[["append","x",1]]`)
			b.inv(1, `[["append","x",2]]`)
			b.done(1, ok, `[["append","x",3]]`)
			b.txn(0, ok, `[["r","x",[1,3]]]`)
		},
		"a micro-operation dropped": func(b *hb) {
			b.txn(0, ok, `[["append","x",1]]`)
			b.inv(1, `[["append","x",2],["append","y",1]]`)
			b.done(1, ok, `[["append","x",2]]`)
			b.txn(0, ok, `[["r","x",[1,2]],["r","y",[]]]`)
		},
		"another key read": func(b *hb) {
			b.txn(0, ok, `[["append","x",1]]`)
			b.inv(1, `[["r","y",null]]`)
			b.done(1, ok, `[["r","x",[1]]]`)
		},
	} {
		b := newHB()
		build(b)
		r := check(t, b, Serializable)
		if r.Valid != checkers.Unknown || !strings.Contains(r.Error, "a completion only fills in what the reads saw") {
			t.Errorf("%s: %s (%s), want unknown", name, r.Valid, r.Error)
		}
	}
}
