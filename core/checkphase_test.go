package core

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chaostest/chaos/checkers"
)

// The check phase's progress: at most one line per interval, and always the
// last one, which says everything was decided.
func TestCheckProgressIsThrottledAndEndsDecided(t *testing.T) {
	var out strings.Builder
	ctx := checkContext(context.Background(), Config{Progress: &out, ProgressInterval: time.Hour})
	for done := int64(1); done <= 4; done++ {
		checkers.ReportProgress(ctx, checkers.Progress{Checker: "linearizable", Done: done, Total: 4, Ops: 10 * done, TotalOps: 40})
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d progress lines within one interval, want the first and the last:\n%s", len(lines), out.String())
	}
	if !strings.Contains(lines[0], "linearizable: 1/4 decided, 10/40 operations") ||
		!strings.Contains(lines[1], "linearizable: 4/4 decided, 40/40 operations") {
		t.Fatalf("progress lines:\n%s", out.String())
	}
	// Without a progress writer, reporting is a no-op.
	checkers.ReportProgress(checkContext(context.Background(), Config{}), checkers.Progress{Checker: "x", Done: 1, Total: 1})
}
