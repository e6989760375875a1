package cli

import (
	"strings"
	"testing"
)

// TestManyNodesStart: a run with sixty nodes starts; every node gets a
// port of its own (200 by hand, see docs/partitions.md).
func TestManyNodesStart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 60 processes")
	}
	store := t.TempDir()
	code, stdout, stderr := chaos(t, "run", "snowflake", "--nodes", "60", "--concurrency", "10", "--time-limit", "1s",
		"--rate", "200", "--seed", "3", "--store", store, "-q")
	if code != exitValid || !strings.HasPrefix(stdout, "VALID ") {
		t.Fatalf("60 nodes: exit %d\n%s\n%s", code, stdout, stderr)
	}
}
