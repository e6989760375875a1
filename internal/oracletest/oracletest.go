// Package oracletest drives the comparison of a checker with its
// brute-force oracle over seeded random histories. Each checker's oracle and
// generator live in that checker's tests and share nothing with it; only
// the loop and the bookkeeping are common.
package oracletest

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/history"
)

// Agree judges one seed's history with the checker and the oracle. It
// returns the oracle's verdict and anomaly kinds, or an error describing the
// disagreement (with the history, for reproduction).
type Agree func(seed uint64) (kinds string, v checkers.Validity, err error)

// Min is how many of each verdict the generator must produce among the
// histories tried: agreement on a one-sided sample means little.
type Min struct{ Valid, Invalid, Unknown int }

// Run compares n histories, seeds 0 to n-1, failing t on the first
// disagreement, and logs the figures.
func Run(t *testing.T, n int, min Min, agree Agree) {
	t.Helper()
	verdicts := map[checkers.Validity]int{}
	kinds := map[string]int{}
	for seed := uint64(0); seed < uint64(n); seed++ {
		k, v, err := agree(seed)
		if err != nil {
			t.Fatal(err)
		}
		verdicts[v]++
		kinds[k]++
	}
	t.Logf("%d histories agree: verdicts %v, anomaly sets %v", n, verdicts, kinds)
	if verdicts[checkers.Valid] < min.Valid || verdicts[checkers.Invalid] < min.Invalid || verdicts[checkers.Unknown] < min.Unknown {
		t.Fatalf("generator too one-sided: %v, want at least %+v", verdicts, min)
	}
}

// Compare holds a checker's result on h against the oracle's verdict and
// anomaly kinds. It returns the oracle's kinds and verdict, as an Agree
// does, or an error showing both sides, the checker's summary and every
// record of h; what names the case (its seed and whatever else shaped it).
func Compare(what string, h *history.File, res checkers.Result, want checkers.Validity, kinds map[string]bool) (string, checkers.Validity, error) {
	if got := Kinds(res.AnomalyCounts); res.Valid != want || got != Set(kinds) {
		lines := make([]string, 0, len(h.Ops))
		for _, op := range h.Ops {
			lines = append(lines, op.String())
		}
		return "", want, fmt.Errorf("%s: checker says %v %v, oracle %v %v\n%s\n%v", what,
			res.Valid, got, want, Set(kinds), res.Summary, lines)
	}
	return Set(kinds), want, nil
}

// Fuzz makes f compare checker and oracle on the seeds the fuzzer picks,
// starting from corpus.
func Fuzz(f *testing.F, agree Agree, corpus ...uint64) {
	for _, seed := range corpus {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, seed uint64) {
		if _, _, err := agree(seed); err != nil {
			t.Fatal(err)
		}
	})
}

// Pair is one client operation as an oracle sees it: its invocation and
// its completion, nil when it never completed.
type Pair struct {
	Inv  history.Op
	Done *history.Op
}

// Outcome is the completion's type; info for an operation that never
// completed.
func (p Pair) Outcome() history.Type {
	if p.Done == nil {
		return history.Info
	}
	return p.Done.Type
}

// Pairs pairs the client operations of ops, in invocation order. It is
// written here, not taken from package history, so that an oracle shares
// nothing with the checker it judges. ok is false when the records break
// the protocol: an invocation while its process has one open, or a
// completion without an open invocation of the same function. Done points
// into ops.
func Pairs(ops []history.Op) (pairs []Pair, ok bool) {
	open := map[int]int{}
	for i := range ops {
		op := ops[i]
		if op.IsNemesis() {
			continue
		}
		if op.Type == history.Invoke {
			if _, busy := open[op.Process]; busy {
				return nil, false
			}
			open[op.Process] = len(pairs)
			pairs = append(pairs, Pair{Inv: op})
			continue
		}
		j, found := open[op.Process]
		if !found || pairs[j].Inv.F != op.F {
			return nil, false
		}
		delete(open, op.Process)
		pairs[j].Done = &ops[i]
	}
	return pairs, true
}

// Kinds renders the kinds present in a checker's anomaly counts, sorted.
func Kinds(counts map[string]int64) string {
	set := map[string]bool{}
	for k, n := range counts {
		set[k] = n > 0
	}
	return Set(set)
}

// Set renders the kinds marked true, sorted.
func Set(kinds map[string]bool) string {
	var out []string
	for k, on := range kinds {
		if on {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return "[" + strings.Join(out, " ") + "]"
}
