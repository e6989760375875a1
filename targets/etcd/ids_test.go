package etcd_test

import (
	"testing"

	"github.com/chaostest/chaos/internal/idstest"
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
	idstest.RequireGlobalOrder(t, out)
}
