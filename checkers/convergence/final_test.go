package convergence

import (
	"strings"
	"testing"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/history"
)

// Final dumps that do not say what the cluster ended with, or a history
// that shows nothing, are unknown. Before, each of these was valid (or, for
// the write after the dumps, a false lost write).
func TestMeaninglessOrAmbiguousFinalStatesAreUnknown(t *testing.T) {
	one := held{"k", "1", 100, "n1", 11}
	for name, tc := range map[string]struct {
		b    func() *builder
		want string
	}{
		"nothing written": {func() *builder {
			b := newBuilder("n1", "n2")
			b.dump(0, "n1", 100)
			b.dump(1, "n2", 100)
			return b
		}, "no write or delete was acknowledged"},
		"header names no nodes": {func() *builder {
			b := newBuilder()
			b.write(0, "k", "n1", 1, history.OK, 100, 10)
			b.dump(0, "n1", 100, one)
			return b
		}, "names no nodes"},
		"dump of a node the header does not name": {func() *builder {
			b := newBuilder("n1")
			b.write(0, "k", "n1", 1, history.OK, 100, 10)
			b.dump(0, "n1", 100, one)
			b.dump(1, "n9", 100)
			return b
		}, `"n9", which the header does not name`},
		"two final dumps of one node": {func() *builder {
			b := newBuilder("n1", "n2")
			b.write(0, "k", "n1", 1, history.OK, 100, 10)
			b.dump(0, "n1", 100)
			b.dump(0, "n1", 100, one)
			b.dump(1, "n2", 100, one)
			return b
		}, "both final dumps"},
		"write after the dumps": {func() *builder {
			b := newBuilder("n1", "n2")
			b.write(0, "k", "n1", 1, history.OK, 100, 10)
			b.dump(0, "n1", 100, one)
			b.dump(1, "n2", 100, one)
			b.write(0, "k", "n1", 2, history.OK, 200, 300)
			return b
		}, "after the final dumps"},
	} {
		r := tc.b().check(t)
		if r.Valid != checkers.Unknown || !strings.Contains(r.Error, tc.want) {
			t.Errorf("%s: %s (%s), want unknown saying %q", name, r.Valid, r.Error, tc.want)
		}
	}
}
