package zookeeper_test

import (
	"cmp"
	"slices"
	"strconv"
	"testing"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/history"
	"github.com/chaostest/chaos/targets/zookeeper"
)

// Sequential znodes as IDs stay unique and grow in real time across every
// server while servers are killed, paused and cut off: each ID is the
// parent's counter at the create, taken in the order the leader commits. An
// info create (its answer lost) may have used a number nobody learnt, which
// only leaves a gap.
func TestIDsUniqueAndMonotonicUnderFaults(t *testing.T) {
	cfg, ok := zookeeper.IDsConfig("kill,pause,partition")
	if !ok {
		t.Fatal("no ids configuration for kill,pause,partition")
	}
	out := runScenario(t, cfg)
	t.Logf("stats %+v\n%s", out.Stats, verdict(out))
	if out.Results.Valid != checkers.Valid {
		t.Fatalf("verdict %s, want valid", out.Results.Valid)
	}
	r := out.Results.Checkers["ids"]
	if r.Counts["ok"] < 100 {
		t.Errorf("only %d IDs acknowledged: too little was exercised (%v)", r.Counts["ok"], r.Counts)
	}
	inv, acked := globalInversions(t, out.Dir)
	t.Logf("%d IDs acknowledged, %d smaller than one acknowledged before their request", acked, inv)
	if inv > 0 {
		t.Errorf("%d IDs were no larger than an ID acknowledged before their request, on some node", inv)
	}
	// Every kind asked for took effect at least once. How many faults fit
	// in the time limit depends on the machine: a killed server's restart
	// is a JVM start, seconds on a loaded one, and the nemesis waits for it.
	applied := map[string]int{}
	for _, f := range out.Faults {
		applied[f.Kind] = f.Applied
	}
	for _, k := range cfg.Nemeses {
		if applied[k] == 0 {
			t.Errorf("no %s fault applied (%+v)", k, out.Faults)
		}
	}
}

// globalInversions counts acknowledged IDs no larger than an ID acknowledged
// anywhere before their request was invoked, straight from the stored
// history: the real-time order across every node that a single counter
// promises, checked here independently of the ids checker (which holds
// counter layouts to per-node order).
func globalInversions(t *testing.T, dir string) (inversions, acked int) {
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
