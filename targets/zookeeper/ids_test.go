package zookeeper_test

import (
	"testing"

	"github.com/chaostest/chaos/internal/idstest"
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
	idstest.RequireGlobalOrder(t, out)
}
