package etcd_test

import (
	"testing"

	"github.com/chaostest/chaos/checkers"
	"github.com/chaostest/chaos/targets/etcd"
)

// Revision IDs (the revision of a put) stay unique and grow in real time
// across every member while members are killed, paused and cut off: the
// store revision grows with every commit, in raft's order. A put whose
// answer was lost (info) may have taken a revision nobody learnt: a gap,
// never a duplicate.
func TestRevisionIDsUniqueAndMonotonicUnderFaults(t *testing.T) {
	cfg, ok := etcd.IDsConfig("kill,pause,partition")
	if !ok {
		t.Fatal("no ids configuration for kill,pause,partition")
	}
	out := runScenario(t, cfg)
	t.Logf("stats %+v\n%s", out.Stats, verdict(t, out))
	if out.Results.Valid != checkers.Valid {
		t.Fatalf("verdict %s, want valid", out.Results.Valid)
	}
	r := out.Results.Checkers["ids"]
	if r.Counts["ok"] < 100 {
		t.Errorf("only %d IDs acknowledged: too little was exercised (%v)", r.Counts["ok"], r.Counts)
	}
	if out.Stats.Applied < 4 {
		t.Errorf("only %d faults applied (%+v)", out.Stats.Applied, out.Stats)
	}
}
