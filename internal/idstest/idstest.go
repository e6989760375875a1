// Package idstest holds what the tests of targets that issue counter IDs
// share: an independent check, straight from the stored history, that
// acknowledged IDs grow in real time across every node.
package idstest

import (
	"cmp"
	"slices"
	"strconv"
	"testing"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
)

// RequireGlobalOrder fails t unless the run out is valid, acknowledged at
// least 100 IDs, applied a fault of every kind it asked for, and
// acknowledged no ID that is no larger than one acknowledged anywhere
// before its request was invoked. Kinds, not a count: on a loaded machine a
// killed server's restart (a JVM's start, which the nemesis waits for) can
// take most of a short run, and fewer faults fit in it.
func RequireGlobalOrder(t testing.TB, out *core.Outcome) {
	t.Helper()
	if out.Results.Valid != checkers.Valid {
		t.Fatalf("verdict %s, want valid", out.Results.Valid)
	}
	r := out.Results.Checkers["ids"]
	if r.Counts["ok"] < 100 {
		t.Errorf("only %d IDs acknowledged: too little was exercised (%v)", r.Counts["ok"], r.Counts)
	}
	inv, acked := GlobalInversions(t, out.Dir)
	t.Logf("%d IDs acknowledged, %d smaller than one acknowledged before their request", acked, inv)
	if inv > 0 {
		t.Errorf("%d IDs were no larger than an ID acknowledged before their request, on some node", inv)
	}
	if len(out.Faults) == 0 {
		t.Errorf("no fault was planned (%+v)", out.Stats)
	}
	for _, ft := range out.Faults {
		if ft.Applied == 0 {
			t.Errorf("no %s fault was applied: %s", ft.Kind, ft)
		}
	}
}

// GlobalInversions counts acknowledged IDs no larger than an ID acknowledged
// anywhere before their request was invoked, straight from the stored
// history: the real-time order across every node that a single counter
// promises, checked here independently of the ids checker (which holds
// counter layouts to per-node order).
func GlobalInversions(t testing.TB, dir string) (inversions, acked int) {
	t.Helper()
	h, err := history.ReadFile(core.HistoryPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	type req struct {
		invoked, done int64
		id            uint64
	}
	invoked := map[int]int64{}
	var reqs []req
	for _, op := range h.Ops {
		if op.IsNemesis() || op.F != "generate" {
			continue
		}
		switch op.Type {
		case history.Invoke:
			invoked[op.Process] = op.Time
		case history.OK:
			id, err := strconv.ParseUint(string(op.Value), 10, 64)
			if err != nil {
				t.Fatalf("record %d: ID %s: %v", op.Index, op.Value, err)
			}
			reqs = append(reqs, req{invoked[op.Process], op.Time, id})
		}
	}
	byDone := slices.Clone(reqs)
	slices.SortFunc(byDone, func(a, b req) int { return cmp.Compare(a.done, b.done) })
	// prefixMax[i] is the largest ID among the first i+1 completions.
	prefixMax := make([]uint64, len(byDone))
	for i, r := range byDone {
		prefixMax[i] = r.id
		if i > 0 {
			prefixMax[i] = max(prefixMax[i], prefixMax[i-1])
		}
	}
	for _, r := range reqs {
		k, _ := slices.BinarySearchFunc(byDone, r.invoked, func(x req, t int64) int { return cmp.Compare(x.done, t) })
		if k > 0 && prefixMax[k-1] >= r.id {
			inversions++
		}
	}
	return inversions, len(reqs)
}
