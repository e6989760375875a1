package zookeeper_test

import (
	"testing"

	"github.com/chaostest/chaos/checkers"
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
	if out.Stats.Applied < 4 {
		t.Errorf("only %d faults applied (%+v)", out.Stats.Applied, out.Stats)
	}
}
